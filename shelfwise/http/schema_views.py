"""The OpenAPI schema and docs views, with the API's JSON errors and OPTIONS.

drf-spectacular's views render with their document's renderer (YAML, or an HTML
template), whatever the response: an error or an OPTIONS answer would come out as YAML,
or fail as a 500 in the HTML template renderer, which needs a template name.
"""

from __future__ import annotations

from typing import Any

from drf_orjson_renderer.renderers import ORJSONRenderer
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.request import Request
from rest_framework.response import Response


class _JsonUnlessDocument:
    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        if isinstance(response, Response) and (response.exception or request.method == "OPTIONS"):
            response.accepted_renderer = ORJSONRenderer()
            response.accepted_media_type = ORJSONRenderer.media_type
        return response


class SchemaApi(_JsonUnlessDocument, SpectacularAPIView):
    pass


class SchemaDocsApi(_JsonUnlessDocument, SpectacularSwaggerView):
    pass


class SchemaRedocApi(_JsonUnlessDocument, SpectacularRedocView):
    pass
