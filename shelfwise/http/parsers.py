"""Request body parsers, DRF's DEFAULT_PARSER_CLASSES; and the 413 that they raise.

The apps never import this module (imports run from ``shelfwise`` to the apps): their views
pick it up through REST_FRAMEWORK settings. It must not import ``rest_framework.views``
(directly or through drf_spectacular): DRF resolves the setting that points here while its
view classes are being defined.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings
from drf_orjson_renderer.parsers import ORJSONParser
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "request_too_large"


class BoundedORJSONParser(ORJSONParser):
    """orjson parser that refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE with a 413.

    DRF hands parsers the raw request stream, which Django does not bound (only
    ``request.body`` checks the setting), so the limit is enforced here, on the declared
    length first and on the bytes actually read (chunked bodies) second.
    """

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        if limit is not None and request is not None:
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0
            if declared > limit:
                raise RequestTooLarge(f"Request body exceeds {limit} bytes.")
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge(f"Request body exceeds {limit} bytes.")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"Malformed JSON: {exc}") from None
