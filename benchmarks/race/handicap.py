"""A deliberately slowed contender: proves that the race's gate fails a slower request.

``handicapped(app, factor, target)`` wraps a WSGI app (named ``module:attribute``, as
gunicorn names it) so that each request for ``target`` (path and query string, exactly as
the race sends it; a target without ``?`` names the path whatever the query string, as a
load test's pages vary it) costs ``factor`` times its own CPU: after the app has produced the
body, the thread spins on the CPU for ``factor - 1`` times the thread CPU time that the
app spent on it. The extra work holds the GIL and uses a core, as a slower serializer or
an over-fetching query's row building would; a ``sleep`` would cost no CPU and take no
core from anything else, so on a loaded machine it would not be "2x slower" at all.

gunicorn calls the factory from the app string, e.g. ``benchmarks.race.handicap:handicapped(
'shelfwise.wsgi:application', 2.0, '/api/v2/books?limit=50')``.
A testing tool only: nothing serves it outside ``bench --race --handicap`` and
``loadtest --handicap``.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _load(name: str) -> WsgiApp:
    module, _, attribute = name.partition(":")
    app: WsgiApp = getattr(importlib.import_module(module), attribute or "application")
    return app


def spin(cpu_seconds: float) -> None:
    """Use ``cpu_seconds`` of this thread's CPU time (not wall time) in Python."""
    deadline = time.thread_time() + cpu_seconds
    while time.thread_time() < deadline:
        sum(range(500))


def handicapped(app: str, factor: float, target: str = "") -> WsgiApp:
    """``app`` with requests for ``target`` (every request if empty) ``factor`` x as costly."""
    if factor < 1:
        raise ValueError("the handicap factor is at least 1")
    inner = _load(app)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        query = environ.get("QUERY_STRING", "")
        path = environ.get("PATH_INFO", "")
        if "?" in target and query:
            path += f"?{query}"
        started = time.thread_time()
        response = inner(environ, start_response)
        try:
            body = b"".join(response)  # buffered: meant for pages, not for a stream
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()
        if not target or path == target:
            spin((factor - 1) * (time.thread_time() - started))
        return [body]

    return application
