"""One log format for every process: structlog's JSON (or console) lines.

Django's logging (settings.LOGGING) and gunicorn's error and access logs
(``shelfwise.serving.gunicorn_logs``) render through the same ``formatter()``, so a staging
or prod log is one JSON object per line, tracebacks included as text. Each request's
lines carry its id (``RequestIdMiddleware`` binds it; the access line reads it back from
the ``X-Request-ID`` response header).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog
from django.core.signals import request_finished

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
# A client's or proxy's id is kept if it looks like one (bounded, no spaces or quotes).
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# Every event, structlog's and plain logging's: the request's bound context (its id),
# level, logger name, time.
SHARED_PROCESSORS: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso"),
]


def formatter(*, json: bool) -> structlog.stdlib.ProcessorFormatter:
    """The formatter of every handler: structlog events and plain ``logging`` records
    alike (``extra=`` fields included), exceptions rendered as traceback text."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
        foreign_pre_chain=[*SHARED_PROCESSORS, structlog.stdlib.ExtraAdder()],
    )


class RequestIdMiddleware:
    """Each request's id: the client's or proxy's ``X-Request-ID`` when it looks like
    one, else a new one. Bound to every log line of the request and sent back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        # Bound until the response is closed (request_finished, below), not just while
        # the middleware runs: Django logs a 4xx or 5xx after the middleware returns.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def _forget_the_request(**kwargs: Any) -> None:
    structlog.contextvars.clear_contextvars()


request_finished.connect(_forget_the_request, dispatch_uid="shelfwise.logs.request_id")
