"""One JSON error shape for the whole API: ``{"error": {"code", "message", "details"}}``.

``exception_handler`` is DRF's EXCEPTION_HANDLER; the ``handler*`` views and
``api_not_found`` give the same shape to errors that Django raises outside DRF (unknown
paths, oversized bodies read by Django itself, crashes) under ``/api/``.

Services raise domain errors (``core.errors.ServiceError``: ``code``, ``message``,
``details``), each class carrying its HTTP ``status``; this module imports no app.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from core.errors import ServiceError
from shelfwise.http import outage
from shelfwise.http.parsers import RequestTooLarge

API_PREFIX = "/api/"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": _json_keys(details)}}


def _json_keys(value: Any) -> Any:
    """DRF keys list and list-field errors by int index; JSON object keys are strings."""
    if isinstance(value, dict):
        return {str(key): _json_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_keys(item) for item in value]
    return value


def _as_api_exception(exc: Exception) -> Exception:
    if isinstance(exc, RequestDataTooBig):
        return RequestTooLarge()
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(as_serializer_error(exc))
    return exc


def _api_error_body(exc: exceptions.APIException) -> dict[str, Any]:
    detail = exc.detail
    if isinstance(exc, exceptions.ValidationError):
        return error_body("invalid", "Invalid input.", detail)
    if isinstance(detail, dict | list):
        return error_body(exc.default_code, str(exc.default_detail), detail)
    code = getattr(detail, "code", None) or exc.default_code
    details = {"retry_after": exc.wait} if isinstance(exc, exceptions.Throttled) else None
    return error_body(str(code), str(detail), details)


def database_error_response(request: HttpRequest, exc: BaseException | None) -> HttpResponse | None:
    """A 503 with Retry-After when ``exc`` is the database failing (down, or a query out
    of time), for any path and any profile; None for anything else."""
    failure = outage.database_failure(exc)
    if failure is None:
        return None
    assert exc is not None
    outage.report(failure, exc, path=request.path)
    response = JsonResponse(
        error_body(failure.code, failure.message, {"reason": failure.reason}),
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(failure.retry_after_s)},
    )
    response._has_been_logged = True  # type: ignore[attr-defined]  # outage.report did
    return response


def exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse | None:
    database_response = database_error_response(context["request"], exc)
    if database_response is not None:
        set_rollback()
        return database_response
    exc = _as_api_exception(exc)
    if isinstance(exc, ServiceError):
        # Its class's status: the base's 400 unless it names another (never a 500).
        # tests/test_service_errors.py walks every subclass.
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: Django's 500 handling (handler500 below) takes over
    assert isinstance(exc, exceptions.APIException)
    response.data = _api_error_body(exc)
    return response


# --- Errors raised by Django outside DRF -------------------------------------------------


@csrf_exempt  # a JSON 404 for any method, not a CSRF 403 page
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Catch-all for unknown ``/api/`` paths (a JSON 404 even with DEBUG on)."""
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not request.path.startswith(API_PREFIX):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(error_body("request_too_large", "Request body too large."), status=413)
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if not request.path.startswith(API_PREFIX):
        return defaults.page_not_found(request, exception)
    return api_not_found(request)


def handler500(request: HttpRequest) -> HttpResponse:
    # Called while Django handles the exception: a database failure raised outside a
    # view (a middleware's query) is still a 503, not a 500.
    database_response = database_error_response(request, sys.exc_info()[1])
    if database_response is not None:
        return database_response
    if not request.path.startswith(API_PREFIX):
        return defaults.server_error(request)
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)
