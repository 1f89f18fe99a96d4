"""A deliberate leak, test-only: proof that the soak test's memory gate can fail.

Installed by settings when ``SHELFWISE_TEST_LEAK_KB`` is set (never in prod): every
request appends that many KB, written so the pages are really used, to a module-level list
that lives as long as the worker.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

KEPT: list[bytes] = []


class LeakMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.size = settings.TEST_LEAK_KB_PER_REQUEST * 1024

    def __call__(self, request: HttpRequest) -> HttpResponse:
        KEPT.append(b"x" * self.size)
        return self.get_response(request)
