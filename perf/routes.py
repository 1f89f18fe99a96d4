"""Bounded route labels: the URL pattern of a request, never its raw path."""

from __future__ import annotations

import re

from django.http import HttpRequest

_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def route_label(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return "unmatched"
    return label_for_route(match.route)


def label_for_route(route: str) -> str:
    """``api/v2/books/<uuid:book_id>`` -> ``/api/v2/books/{book_id}``."""
    return "/" + _CONVERTER.sub(r"{\1}", route).lstrip("^").rstrip("$")
