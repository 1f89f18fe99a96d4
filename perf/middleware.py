"""Per-request query counting, N+1 detection, slow-request warnings and metrics.

Place ``perf.middleware.QueryCountMiddleware`` first in MIDDLEWARE (after silk's, in the
staging profile) so that it sees every query of the request, authentication included, and
none of silk's own bookkeeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import lru_cache

import structlog
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from perf import metrics, nplusone
from perf.conf import perf_settings
from perf.recording import record_queries
from perf.routes import route_label

logger = structlog.get_logger("perf.queries")


@lru_cache(maxsize=4)
def _tier_resolver(path: str) -> Callable[[HttpRequest], str] | None:
    return import_string(path) if path else None


class QueryCountMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        conf = perf_settings()
        started = time.perf_counter()
        with record_queries(is_request=True) as recording:
            response = self.get_response(request)
        elapsed = time.perf_counter() - started
        count = recording.count

        route = route_label(request)
        method = request.method or "-"
        if conf.QUERY_HEADER:
            response["X-Query-Count"] = str(count)
            response["X-Query-Time-Ms"] = f"{recording.time_ms():.2f}"
        if count > conf.WARN_QUERIES:
            top = sorted(recording.shape_counts().items(), key=lambda kv: -kv[1])[:3]
            logger.warning(
                "high_query_count",
                route=route,
                method=method,
                count=count,
                threshold=conf.WARN_QUERIES,
                time_ms=round(recording.time_ms(), 2),
                top_statements=[{"count": n, "shape": s[:300]} for s, n in top],
            )
        if conf.METRICS:
            resolver = _tier_resolver(conf.TIER_RESOLVER)
            tier = resolver(request) if resolver else "none"
            metrics.observe_request(
                route=route,
                method=method,
                tier=tier,
                seconds=elapsed,
                queries=count,
                alert=count > conf.ALERT_QUERIES,
            )
        nplusone.report(
            recording, context=f"{method} {route}", labels={"route": route, "method": method}
        )
        return response
