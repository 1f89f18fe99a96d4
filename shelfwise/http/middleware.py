"""Request checks that must run before any view."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from shelfwise.http.errors import database_error_response, error_body
from shelfwise.http.outage import database_failure


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


class DatabaseUnavailableMiddleware:
    """Outermost: a database failure is a 503 JSON, never a 500 or the debug page.

    DRF views answer their own (errors.exception_handler); ``process_exception`` answers
    any other view's before Django renders a 500 (DEBUG on or off); and a failure raised
    inside another middleware, which Django turns into a 500 response at that layer, is
    remembered on the request (``remember_database_error``) and replaced here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        failed: BaseException | None = getattr(request, "_database_error", None)
        if failed is not None and response.status_code == 500:
            return database_error_response(request, failed) or response
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return database_error_response(request, exception)


def remember_database_error(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """got_request_exception receiver (sent while Django handles an uncaught exception)."""
    exc = sys.exc_info()[1]
    if request is not None and database_failure(exc) is not None:
        request._database_error = exc  # type: ignore[attr-defined]
