"""OpenTelemetry traces (shelfwise/serving/tracing.py): switched by the OTEL_* variables, a server
span per request with perf's figures, a child span per query; nothing when off.

Spans go to the SDK's in-memory exporter or to a subprocess's console: never off the
machine."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from perf.process import free_port
from shelfwise.db.urls import current_database_url
from shelfwise.serving import gunicorn_command, health_url, tracing
from shelfwise.settings.observability import tracing_config
from tenants.models import Role
from tenants.services import api_token_issue, user_get_or_create
from tests.factories import BookFactory

ROOT = Path(__file__).resolve().parent.parent
HOOK = "shelfwise.serving.tracing.annotate_request_span"


# --- The switch: the standard OTEL_* variables --------------------------------------------


@pytest.mark.parametrize(
    ("environ", "enabled", "exporters"),
    [
        ({}, False, ("otlp",)),
        ({"OTEL_SERVICE_NAME": "shop"}, False, ("otlp",)),  # naming it switches nothing on
        ({"OTEL_TRACES_EXPORTER": "console"}, True, ("console",)),
        ({"OTEL_TRACES_EXPORTER": "otlp, Console"}, True, ("otlp", "console")),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True, ("otlp",)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True,
         ("otlp",)),
        ({"OTEL_SDK_DISABLED": "false"}, True, ("otlp",)),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}, False, ("console",)),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}, False,
         ("otlp",)),
    ],
)  # fmt: skip
def test_the_otel_variables_switch_traces_on_and_name_the_exporters(environ, enabled, exporters):
    config = tracing_config(environ)
    assert (config["ENABLED"], config["EXPORTERS"]) == (enabled, exporters)


def test_an_exporter_that_is_not_installed_is_refused():
    with pytest.raises(ImproperlyConfigured, match="zipkin is not installed"):
        tracing_config({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_the_service_is_named_shelfwise_unless_the_environment_names_it(monkeypatch):
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    named = tracing.build_provider(exporters=(), default_service_name="shelfwise")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=shop-eu,deployment.env=x")
    by_resource = tracing.build_provider(exporters=(), default_service_name="shelfwise")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "shop")
    by_name = tracing.build_provider(exporters=(), default_service_name="shelfwise")
    assert [p.resource.attributes["service.name"] for p in (named, by_resource, by_name)] == [
        "shelfwise",
        "shop-eu",
        "shop",
    ]


# --- On: a request's spans (in-memory exporter) -------------------------------------------


@pytest.fixture
def spans(transactional_db, settings):
    """Django and psycopg instrumented with a provider of the test's own (the global one
    can be set once per process), perf's hook on, and a connection opened through the
    instrumented ``psycopg.connect``."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings.PERF = {**settings.PERF, "REQUEST_HOOKS": [HOOK]}
    connection.close()
    tracing.instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        tracing.uninstrument()
        connection.close()
        provider.shutdown()


@pytest.fixture
def member_token(tenant):
    for i in range(3):
        BookFactory(tenant=tenant, title=f"Traced {i}")
    user = user_get_or_create(tenant=tenant, username="traced-member", role=Role.MEMBER)
    return api_token_issue(user=user, name="traces")[1]


def _server_and_queries(finished: tuple[ReadableSpan, ...]) -> tuple[ReadableSpan, list]:
    servers = [s for s in finished if s.kind is SpanKind.SERVER]
    assert len(servers) == 1, [s.name for s in finished]
    # The request's own spans: a span of another trace (a thread an earlier test of this
    # process left running, say) is not one of its queries.
    trace = servers[0].context.trace_id
    return servers[0], [s for s in finished if s is not servers[0] and s.context.trace_id == trace]


def test_a_catalog_request_is_one_server_span_with_a_child_span_per_query(
    spans, member_token, client
):
    headers = {"Authorization": f"Bearer {member_token}"}
    # First: the connection's setup queries and the tenant's tier lookup (cached), which
    # are not the page's own.
    assert client.get("/api/v2/books?limit=2", headers=headers).status_code == 200
    spans.clear()

    response = client.get("/api/v2/books?limit=2", headers=headers)

    assert response.status_code == 200
    server, queries = _server_and_queries(spans.get_finished_spans())
    count = int(response["X-Query-Count"])
    assert count > 0
    assert len(queries) == count, [q.attributes.get("db.statement") for q in queries]
    for query in queries:
        assert query.kind is SpanKind.CLIENT
        assert query.parent is not None and query.parent.span_id == server.context.span_id
        assert query.context.trace_id == server.context.trace_id
        assert query.attributes["db.system"] == "postgresql"
    statements = [q.attributes["db.statement"] for q in queries]
    assert any('FROM "catalog_book"' in s for s in statements), statements
    assert not any("Traced" in s for s in statements)  # parameters are never recorded
    assert server.name == "GET api/v2/books"
    assert server.attributes["http.route"] == "api/v2/books"
    assert server.attributes[tracing.ROUTE] == "/api/v2/books"
    assert server.attributes[tracing.TENANT_TIER] == "xs"
    assert server.attributes[tracing.QUERY_COUNT] == count
    sql_ms = server.attributes[tracing.SQL_TIME_MS]
    assert sql_ms == pytest.approx(float(response["X-Query-Time-Ms"]), abs=0.01)
    assert sql_ms > 0


def test_a_streamed_export_carries_the_figures_of_its_headers(spans, member_token, client):
    headers = {"Authorization": f"Bearer {member_token}"}
    response = client.get("/api/v2/books/export", headers=headers)
    b"".join(response.streaming_content)

    server, _ = _server_and_queries(spans.get_finished_spans())
    assert server.attributes[tracing.ROUTE] == "/api/v2/books/export"
    assert server.attributes[tracing.QUERY_COUNT] == int(response["X-Query-Count"])


# --- Off, and on in real processes ----------------------------------------------------------

PROBE = """
import sys
import django
django.setup()
from django.conf import settings
from django.test import Client
status = Client().get("/api/v2/health", HTTP_HOST="127.0.0.1").status_code
loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
print(status, settings.TRACING["ENABLED"], len(loaded), settings.PERF["REQUEST_HOOKS"])
print(any("opentelemetry" in m for m in settings.MIDDLEWARE))
"""


def _clean_env(**env: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return clean | {"DJANGO_SETTINGS_MODULE": "shelfwise.settings", **env}


def _probe(child_process, **env: str) -> subprocess.CompletedProcess[str]:
    return child_process(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_off_by_default_no_opentelemetry_module_is_even_imported(child_process):
    result = _probe(child_process)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["200 False 0 []", "False"]


def test_on_outside_gunicorn_the_process_traces_its_requests_to_the_console(child_process):
    result = _probe(child_process, OTEL_TRACES_EXPORTER="console")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("200 True ") and lines[0].endswith(f"['{HOOK}']")
    assert int(lines[0].split()[2]) > 0
    assert lines[1] == "True"
    # The batch processor's queue is exported at exit.
    assert '"name": "GET api/v2/health"' in result.stdout
    assert '"service.name": "shelfwise"' in result.stdout


@pytest.mark.parametrize("preload", [False, True], ids=["app-per-worker", "preload"])
def test_gunicorn_workers_start_tracing_after_the_fork(
    transactional_db, tmp_path, preload, server_process
):
    port = free_port()
    command = gunicorn_command(
        bind=f"127.0.0.1:{port}",
        workers=1,
        database_url=current_database_url(),
        access_log="",
        base_env=_clean_env(),
        env={"OTEL_TRACES_EXPORTER": "console", "OTEL_BSP_SCHEDULE_DELAY": "100"},
        env_unset=("PROMETHEUS_MULTIPROC_DIR",),
    )
    argv = [*command.argv, *(["--preload"] if preload else [])]
    log = tmp_path / "gunicorn.log"
    ready = f"http://127.0.0.1:{port}/api/v2/ready"
    with (
        server_process(argv, health_url=health_url(port), env=command.env, log_path=log),
        urllib.request.urlopen(ready, timeout=10) as response,
    ):
        assert response.status == 200
    output = log.read_text()
    # Exported by the worker's own batch thread (flushed at its exit at the latest).
    assert '"name": "GET api/v2/ready"' in output, output[-3000:]
    assert '"db.statement": "SELECT 1"' in output
    assert '"service.name": "shelfwise"' in output
