"""Request checks that must run before any view."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from shelfwise.errors import error_body


class RequireContentLengthMiddleware:
    """A body sent chunked, without Content-Length, reaches Django empty (WSGI reads by
    CONTENT_LENGTH), so it would fail as if no field had been sent. Say what is wrong:
    411 Length Required."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not request.META.get("CONTENT_LENGTH"):
            return JsonResponse(
                error_body("length_required", "Send the body with a Content-Length header."),
                status=411,
            )
        return self.get_response(request)


class RejectNulBytesMiddleware:
    """PostgreSQL text cannot hold NUL: a query-string value with one would reach the
    database from any lookup (the admin's autocomplete, say) and fail there as a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any("\x00" in v for values in request.GET.lists() for v in values[1]):
            return JsonResponse(
                error_body("invalid", "Query parameters cannot contain NUL characters."),
                status=400,
            )
        return self.get_response(request)
