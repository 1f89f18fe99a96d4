"""Per-request query counting, N+1 detection, slow-request warnings and metrics.

Place ``perf.middleware.QueryCountMiddleware`` first in MIDDLEWARE (after silk's, in the
staging profile) so that it sees every query of the request, authentication included, and
none of silk's own bookkeeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import structlog
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from perf import metrics, nplusone
from perf.conf import perf_settings, query_level
from perf.nplusone import RepeatCounter, allow_repeats
from perf.recording import Recording, listening
from perf.routes import route_label

logger = structlog.get_logger("perf.queries")


@lru_cache(maxsize=4)
def _tier_resolver(path: str) -> Callable[[HttpRequest], str] | None:
    return import_string(path) if path else None


@dataclass(frozen=True)
class RequestSummary:
    """What perf measured of a request, handed to each ``PERF["REQUEST_HOOKS"]`` entry.

    The figures of ``X-Query-Count`` / ``X-Query-Time-Ms``: for a streaming response, the
    queries before its body (the hooks run when the headers go).
    """

    route: str
    method: str
    tier: str
    status: int
    queries: int
    sql_ms: float


RequestHook = Callable[[HttpRequest, RequestSummary], None]


@lru_cache(maxsize=4)
def _request_hooks(paths: tuple[str, ...]) -> tuple[RequestHook, ...]:
    return tuple(import_string(path) for path in paths)


# Metric labels stay bounded: any other method a client invents counts as "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _request_tier(request: HttpRequest, path: str) -> str:
    resolver = _tier_resolver(path)
    # The resolver may query (once per tenant and TTL): not the request's queries, and
    # no N+1 for a test that makes requests for several tenants.
    with allow_repeats("tier lookup, cached per tenant"):
        try:
            return resolver(request) if resolver else "none"
        except DatabaseError:
            # The database failed the request already (or fails now): the label must not
            # turn the request's own answer (a 503, say) into a 500.
            return "unknown"


class QueryCountMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        conf = perf_settings()
        started = time.perf_counter()
        # The thread's CPU time, not the process's: a gthread worker serves several requests
        # at once, and waiting on the database (or a client) costs none. Not read at all
        # when neither the header nor the metric would show it.
        timed = conf.QUERY_HEADER or conf.METRICS
        cpu_started = time.thread_time() if timed else 0.0
        # Counted as production runs it (no test transaction's savepoint pair), so a
        # test sees the X-Query-Count that production sends and the load test gates.
        recording = Recording.starting_now(include_savepoints=False)
        repeats = RepeatCounter(is_request=True)
        with listening(recording, repeats):
            response = self.get_response(request)
        cpu = time.thread_time() - cpu_started if timed else 0.0
        if conf.QUERY_HEADER:
            # For a streaming response: the queries and CPU before the body (the headers
            # go first).
            response["X-Query-Count"] = str(recording.count)
            response["X-Query-Time-Ms"] = f"{recording.time_ms():.2f}"
            response["X-App-CPU-Ms"] = f"{cpu * 1000:.2f}"
        if conf.REQUEST_HOOKS:
            summary = RequestSummary(
                route=route_label(request),
                method=request.method if request.method in _METHODS else "other",
                tier=_request_tier(request, conf.TIER_RESOLVER),
                status=response.status_code,
                queries=recording.count,
                sql_ms=recording.time_ms(),
            )
            for hook in _request_hooks(conf.REQUEST_HOOKS):
                hook(request, summary)
        if response.streaming:
            # The body's queries run while it is sent: keep recording until it is done,
            # then warn, count and check for N+1s over the whole request.
            response.streaming_content = self._streamed(  # type: ignore[attr-defined]
                response.streaming_content,  # type: ignore[attr-defined]
                request,
                (recording, repeats),
                started,
                response.status_code,
                cpu if timed else None,
            )
            return response
        self._finish(request, (recording, repeats), started, response.status_code, cpu)
        return response

    def _streamed(
        self,
        content: Iterable[bytes],
        request: HttpRequest,
        recorded: tuple[Recording, RepeatCounter],
        started: float,
        status: int,
        cpu: float | None,
    ) -> Iterator[bytes]:
        chunks = iter(content)
        recording, repeats = recorded
        try:
            with listening(recording, repeats):  # resumed while the body is produced
                while True:
                    # Timed chunk by chunk: the app's work producing the body, not the
                    # server's writes between chunks (and right even if a server resumed
                    # the body on another thread).
                    before = time.thread_time() if cpu is not None else 0.0
                    try:
                        chunk = next(chunks)
                    except StopIteration:
                        return
                    finally:
                        if cpu is not None:
                            cpu += time.thread_time() - before
                    yield chunk
        finally:
            self._finish(request, recorded, started, status, cpu or 0.0)

    def _finish(
        self,
        request: HttpRequest,
        recorded: tuple[Recording, RepeatCounter],
        started: float,
        status: int,
        cpu: float,
    ) -> None:
        conf = perf_settings()
        recording, repeats = recorded
        elapsed = time.perf_counter() - started
        count = recording.count
        route = route_label(request)
        method = request.method if request.method in _METHODS else "other"
        level = query_level(count, conf)
        if level is not None:
            top = sorted(recording.shape_counts().items(), key=lambda kv: -kv[1])[:3]
            thresholds = {"warn": conf.WARN_QUERIES, "alert": conf.ALERT_QUERIES}
            log = logger.warning if level == "warn" else logger.error
            log(
                "high_query_count",
                route=route,
                method=method,
                count=count,
                query_level=level,
                threshold=thresholds.get(level, conf.PAGE_QUERIES),
                time_ms=round(recording.time_ms(), 2),
                per_alias={
                    alias: {
                        "count": recording.count_for(alias),
                        "time_ms": round(recording.time_ms(alias), 2),
                    }
                    for alias in recording.aliases()
                },
                top_statements=[{"count": n, "shape": s[:300]} for s, n in top],
            )
        if conf.METRICS:
            metrics.observe_request(
                route=route,
                method=method,
                tier=_request_tier(request, conf.TIER_RESOLVER),
                seconds=elapsed,
                app_cpu_seconds=cpu,
                queries=count,
                level=level,
                status=status,
            )
        if status >= 500:
            # A failed request (and Django's debug page, which re-runs querysets it shows)
            # is not judged for N+1s: the error is the news.
            return
        nplusone.report(
            repeats, context=f"{method} {route}", labels={"route": route, "method": method}
        )
