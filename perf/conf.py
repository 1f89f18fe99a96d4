"""perf's settings: a typed object over defaults, read from ``settings.PERF``.

Every key is optional. Changing ``PERF`` with ``override_settings`` takes effect at once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

NPlusOneMode = Literal["raise", "log", "off"]
FetchModeName = Literal["FETCH_ONE", "FETCH_PEERS", "FETCH_RAISE"]


@dataclass(frozen=True)
class PerfSettings:
    # Response headers X-Query-Count / X-Query-Time-Ms.
    QUERY_HEADER: bool = False
    # Three levels of queries per request (the seed's takeaways: warn at 10, alert at 20,
    # page at 50). Past WARN_QUERIES a structured warning; past each level the counter
    # <METRICS_PREFIX>_query_count_level_total{level="warn"|"alert"|"page"} (the highest
    # level passed); past ALERT_QUERIES also <METRICS_PREFIX>_high_query_count_total.
    # deploy/prometheus/alerts.yml turns the counter into alerts of matching severity.
    WARN_QUERIES: int = 10
    ALERT_QUERIES: int = 20
    PAGE_QUERIES: int = 50
    # N+1: one statement shape run at least this many times in one request or block.
    NPLUSONE_MODE: NPlusOneMode = "raise"
    NPLUSONE_THRESHOLD: int = 5
    # Django's fetch mode for lazy related/deferred loads on the apps' querysets.
    FETCH_MODE: FetchModeName = "FETCH_ONE"
    # Source roots considered "project code" for call sites (default: BASE_DIR).
    PROJECT_ROOTS: tuple[str, ...] = ()
    # Modules (dotted prefixes) that are never a call site: helper layers between the
    # project's code and the ORM. Methods of QuerySet and Manager subclasses are skipped
    # without being listed.
    CALLSITE_SKIP_MODULES: tuple[str, ...] = ()
    # Test settings: check every call of a service declared with perf.locks.takes_locks.
    LOCK_CHECK: bool = False
    # Tables never counted (profilers' own bookkeeping).
    IGNORED_TABLE_PREFIXES: tuple[str, ...] = ("silk_",)
    # Metrics, named <METRICS_PREFIX>_http_request_duration_seconds and so on (read once,
    # when perf.metrics is first imported).
    METRICS: bool = True
    METRICS_PREFIX: str = "django"
    # /metrics without a token: on in dev and staging; in prod set a token instead.
    METRICS_PUBLIC: bool = True
    METRICS_TOKEN: str = ""
    # Dotted path of a callable(request) -> str giving a bounded tier label, or "".
    TIER_RESOLVER: str = ""
    # Dotted paths of callables(request, perf.middleware.RequestSummary) that
    # QueryCountMiddleware calls once per request, after counting its queries and before
    # its body is sent: a tracer puts the figures on the request's span, say. Empty (the
    # default), the middleware does no work for them.
    REQUEST_HOOKS: tuple[str, ...] = ()


_KNOWN = {f.name for f in fields(PerfSettings)}
_cached: PerfSettings | None = None


def query_level(count: int, conf: PerfSettings) -> str | None:
    """The highest threshold ``count`` queries pass: "page", "alert", "warn" or None."""
    if count > conf.PAGE_QUERIES:
        return "page"
    if count > conf.ALERT_QUERIES:
        return "alert"
    if count > conf.WARN_QUERIES:
        return "warn"
    return None


def perf_settings() -> PerfSettings:
    global _cached
    if _cached is None:
        raw: dict[str, Any] = dict(getattr(settings, "PERF", {}))
        unknown = set(raw) - _KNOWN
        if unknown:
            raise ValueError(f"unknown PERF settings: {', '.join(sorted(unknown))}")
        for key in (
            "PROJECT_ROOTS",
            "IGNORED_TABLE_PREFIXES",
            "CALLSITE_SKIP_MODULES",
            "REQUEST_HOOKS",
        ):
            if key in raw:
                raw[key] = tuple(raw[key])
        if raw.get("FETCH_MODE", "FETCH_ONE") not in ("FETCH_ONE", "FETCH_PEERS", "FETCH_RAISE"):
            raise ValueError("PERF['FETCH_MODE'] must be FETCH_ONE, FETCH_PEERS or FETCH_RAISE")
        if raw.get("NPLUSONE_MODE", "raise") not in ("raise", "log", "off"):
            raise ValueError("PERF['NPLUSONE_MODE'] must be 'raise', 'log' or 'off'")
        levels = PerfSettings(**raw)
        if not levels.WARN_QUERIES <= levels.ALERT_QUERIES <= levels.PAGE_QUERIES:
            raise ValueError(
                "PERF query levels must rise: WARN_QUERIES <= ALERT_QUERIES <= PAGE_QUERIES "
                f"(got {levels.WARN_QUERIES}, {levels.ALERT_QUERIES}, {levels.PAGE_QUERIES})"
            )
        _cached = levels
    return _cached


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs: Any) -> None:
    global _cached
    if setting in {"PERF", "BASE_DIR"}:
        _cached = None
