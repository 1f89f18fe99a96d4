"""Prometheus metrics, correct under gunicorn with several workers.

With ``PROMETHEUS_MULTIPROC_DIR`` set (a gunicorn config sets it), every worker
writes its samples to files there and ``/metrics`` aggregates them; without it (runserver,
tests) the process's own registry is served. Labels are bounded: the route pattern (never
the raw path), the method, and a tenant size tier from a small fixed set.
"""

from __future__ import annotations

import hmac
import os
from functools import lru_cache

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from perf.conf import perf_settings

_PREFIX = perf_settings().METRICS_PREFIX

REQUEST_LATENCY = Histogram(
    f"{_PREFIX}_http_request_duration_seconds",
    "Request latency by route pattern, method and tenant size tier.",
    ["route", "method", "tier"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REQUEST_QUERIES = Histogram(
    f"{_PREFIX}_http_request_queries",
    "SQL queries per request by route pattern and method.",
    ["route", "method"],
    buckets=(0, 1, 2, 3, 5, 8, 10, 15, 20, 30, 50, 100, 1000),
)
# Thread CPU time of the request in the app (waiting on the database excluded): 0.1 ms
# (a health check) to 1 s.
REQUEST_APP_CPU = Histogram(
    f"{_PREFIX}_http_request_app_cpu_seconds",
    "Thread CPU time spent in the app per request, by route pattern and method.",
    ["route", "method"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
HIGH_QUERY_COUNT = Counter(
    f"{_PREFIX}_high_query_count",
    "Requests past the query-count alert threshold.",
    ["route", "method"],
)
QUERY_COUNT_LEVEL = Counter(
    f"{_PREFIX}_query_count_level",
    "Requests past a query-count threshold, by the highest level passed (warn, alert, page).",
    ["route", "method", "level"],
)
RESPONSES = Counter(
    f"{_PREFIX}_http_responses",
    "Responses by route pattern, method and status class (2xx, 3xx, 4xx, 5xx).",
    ["route", "method", "status"],
)
REPLICA_LAG = Gauge(
    f"{_PREFIX}_db_replica_lag_seconds",
    "The read replica's replay lag at the last check (NaN: it did not answer).",
    multiprocess_mode="max",
)
N_PLUS_ONE = Counter(
    f"{_PREFIX}_n_plus_one",
    "N+1 query patterns detected (logged, not raised).",
    ["route", "method"],
)


# labels() takes a lock and builds a key on every call, about as costly as the observation
# itself: each request looks its children up here instead. Labels are bounded (route
# patterns, methods, tiers), so the caches are too.
@lru_cache(maxsize=4096)
def _route_children(route: str, method: str) -> tuple[Histogram, Histogram]:
    return REQUEST_QUERIES.labels(route, method), REQUEST_APP_CPU.labels(route, method)


_STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}


@lru_cache(maxsize=4096)
def _responses_child(route: str, method: str, status: str) -> Counter:
    return RESPONSES.labels(route, method, status)


@lru_cache(maxsize=4096)
def _latency_child(route: str, method: str, tier: str) -> Histogram:
    return REQUEST_LATENCY.labels(route, method, tier)


def observe_request(
    *,
    route: str,
    method: str,
    tier: str,
    seconds: float,
    app_cpu_seconds: float,
    queries: int,
    level: str | None,
    status: int,
) -> None:
    queries_child, app_cpu_child = _route_children(route, method)
    _latency_child(route, method, tier).observe(seconds)
    queries_child.observe(queries)
    app_cpu_child.observe(app_cpu_seconds)
    _responses_child(route, method, _STATUS_CLASSES.get(status // 100, "other")).inc()
    if level is not None:
        QUERY_COUNT_LEVEL.labels(route, method, level).inc()
        if level != "warn":
            HIGH_QUERY_COUNT.labels(route, method).inc()


def set_replica_lag(seconds: float | None) -> None:
    REPLICA_LAG.set(float("nan") if seconds is None else seconds)


def record_n_plus_one(labels: dict[str, str], n: int) -> None:
    N_PLUS_ONE.labels(labels.get("route", "block"), labels.get("method", "-")).inc(n)


def render() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format.

    With PERF['METRICS_TOKEN'] set, the scraper must send it as a bearer token. Without a
    token the endpoint answers only where METRICS_PUBLIC is on (dev, staging); in prod it
    is a 404 until a token is configured.
    """
    conf = perf_settings()
    if not conf.METRICS:
        return HttpResponseNotFound()
    if conf.METRICS_TOKEN:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), conf.METRICS_TOKEN.encode()):
            return HttpResponse(status=401, headers={"WWW-Authenticate": "Bearer"})
    elif not conf.METRICS_PUBLIC:
        return HttpResponseNotFound()
    return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
