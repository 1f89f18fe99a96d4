"""OPTIONS answers: what an endpoint is, renders and parses; its methods in ``Allow``.

DRF's SimpleMetadata also describes the fields of the view's serializer, which it finds
through ``get_serializer_class()``. ShelfWise's views choose an input serializer per
method and set no ``serializer_class``, so that introspection fails (an AssertionError:
a 500). Field shapes are the OpenAPI schema's job (``/api/schema/``); OPTIONS stays a
cheap description that needs no serializer.
"""

from __future__ import annotations

from typing import Any

from rest_framework.metadata import BaseMetadata
from rest_framework.request import Request


class EndpointMetadata(BaseMetadata):
    def determine_metadata(self, request: Request, view: Any) -> dict[str, Any]:
        return {
            "name": view.get_view_name(),
            "description": view.get_view_description(),
            "renders": [renderer.media_type for renderer in view.renderer_classes],
            "parses": [parser.media_type for parser in view.parser_classes],
        }
