"""The method contract of DRF's views, for the plain Django views (health, readiness,
metrics): another method is a JSON 405 with ``Allow``; OPTIONS is a 200 with ``Allow``
and the same description DRF's OPTIONS gives (``shelfwise.http.metadata``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from shelfwise.http.errors import error_body

View = Callable[..., HttpResponse]


def allow_methods(*methods: str, renders: str = "application/json") -> Callable[[View], View]:
    """Serve ``methods`` (HEAD with GET, as Django does) and answer OPTIONS.

    CSRF-exempt: these views take no cookie-authenticated input, so CsrfViewMiddleware's
    HTML 403 for a POST would only hide the JSON 405.
    """
    allowed = {*methods, "OPTIONS"} | ({"HEAD"} if "GET" in methods else set())
    allow = ", ".join(sorted(allowed))

    def decorate(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "OPTIONS":
                description = {
                    "name": view.__name__.replace("_", " ").capitalize(),
                    "description": (view.__doc__ or "").strip().split("\n")[0],
                    "renders": [renders],
                    "parses": [],
                }
                return JsonResponse(description, headers={"Allow": allow})
            if request.method not in allowed:
                message = f'Method "{request.method}" not allowed.'
                return JsonResponse(
                    error_body("method_not_allowed", message),
                    status=405,
                    headers={"Allow": allow},
                )
            return view(request, *args, **kwargs)

        return guarded

    return decorate
