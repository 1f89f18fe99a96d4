"""OpenTelemetry traces: a server span per request (the Django instrumentation), a child
span per query (the psycopg instrumentation), and perf's figures on the server span.

Imported only when ``settings.TRACING["ENABLED"]`` (the OTEL_* variables,
shelfwise/settings/observability.py): off, no OpenTelemetry module is loaded at all. On,
in two steps, because gunicorn forks:

- ``instrument()`` at app load (``ShelfwiseConfig.ready``): wraps ``psycopg.connect`` and
  adds the instrumentation's middleware to ``MIDDLEWARE`` (outermost), before the first
  connection opens and before the WSGI handler builds its middleware chain. It starts no
  thread, so a master that loads the app and forks afterwards (``--preload``) is safe.
- ``start()`` once per serving process, after any fork (gunicorn's ``post_worker_init``;
  at app load for every other process): the tracer provider and its
  ``BatchSpanProcessor``, whose export thread must belong to the process that serves.
  The instrumentations hold the global proxy tracer, which resolves to it once set.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from django.conf import settings
from django.http import HttpRequest
from opentelemetry import trace
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from perf.middleware import RequestSummary

# The request span's attributes beside the instrumentation's own (http.route there is
# Django's raw pattern; this route is the one /metrics labels, so the two line up).
ROUTE = "shelfwise.route"
TENANT_TIER = "shelfwise.tenant.tier"
QUERY_COUNT = "shelfwise.db.query_count"
SQL_TIME_MS = "shelfwise.db.sql_time_ms"

_started_in: int | None = None


def instrument(tracer_provider: trace.TracerProvider | None = None) -> None:
    """Instrument Django and psycopg (``tracer_provider``: a test's own; else the global
    one that ``start()`` sets). Query parameters are never recorded (they hold customers'
    data) and no comment is added to the SQL (it would split pg_stat_statements' rows)."""
    DjangoInstrumentor().instrument(tracer_provider=tracer_provider)
    PsycopgInstrumentor().instrument(
        tracer_provider=tracer_provider, enable_commenter=False, capture_parameters=False
    )


def uninstrument() -> None:
    DjangoInstrumentor().uninstrument()
    PsycopgInstrumentor().uninstrument()


def start() -> None:
    """Install this process's tracer provider, once per process."""
    global _started_in
    if _started_in == os.getpid():
        return
    conf = settings.TRACING
    trace.set_tracer_provider(
        build_provider(
            exporters=conf["EXPORTERS"], default_service_name=conf["DEFAULT_SERVICE_NAME"]
        )
    )
    _started_in = os.getpid()


def shutdown() -> None:
    """Export the spans still queued (a gunicorn worker's exit)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def build_provider(*, exporters: Sequence[str], default_service_name: str) -> TracerProvider:
    resource = Resource.create()  # OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: default_service_name}))
    provider = TracerProvider(resource=resource)
    for name in exporters:
        # Batched for the console too: a request never waits for a span to be written.
        provider.add_span_processor(BatchSpanProcessor(span_exporter(name)))
    return provider


def span_exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":
        # OTLP over HTTP/protobuf; OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, default
        # http://localhost:4318/v1/traces (a collector beside the app).
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    raise ValueError(f"unknown trace exporter {name!r}")


def annotate_request_span(request: HttpRequest, summary: RequestSummary) -> None:
    """perf's request hook (``PERF["REQUEST_HOOKS"]``): runs inside the server span."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attributes(
        {
            ROUTE: summary.route,
            TENANT_TIER: summary.tier,
            QUERY_COUNT: summary.queries,
            SQL_TIME_MS: round(summary.sql_ms, 3),
        }
    )
