"""The database failing is a 503 with Retry-After, never a 500, and the process lives on.

"Down" here is a real connection attempt to a 127.0.0.1 port where nothing listens (the
shared test server cannot be stopped); tests/test_database_outage.py stops a real server
under a real gunicorn.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

import psycopg
import pytest
from django.conf import settings
from django.db import connection, connections
from django.test import Client

from orders.models import Order
from perf.process import free_port
from shelfwise.db.urls import current_database_url
from shelfwise.http import outage
from tenants.services import api_token_issue
from tests.factories import BookFactory, TenantFactory, UserFactory

# Requests that fail before any view code runs repeat no query shape worth reporting.
pytestmark = pytest.mark.allow_repeats("failing requests retry the connection")


def _events(caplog, name: str) -> list[dict]:
    return [
        r.msg
        for r in caplog.records
        if r.name == "shelfwise.database" and isinstance(r.msg, dict) and r.msg["event"] == name
    ]


def _assert_503(response, code: str = "database_unavailable", retry_after: str = "5") -> dict:
    assert response.status_code == 503, response.content[:500]
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == retry_after
    error = response.json()["error"]
    assert error["code"] == code
    return error


class _Outage:
    """Every new connection of this process goes to a port where nothing listens, until
    ``end()``."""

    def __init__(self) -> None:
        dead_port = free_port()
        real_params = connection.get_connection_params
        connection.close()
        connection.get_connection_params = lambda: {
            **real_params(),
            "host": "127.0.0.1",
            "port": dead_port,
        }

    def end(self) -> None:
        vars(connections["default"]).pop("get_connection_params", None)  # the method again


@pytest.fixture
def database_down(transactional_db, monkeypatch):
    monkeypatch.setattr(outage, "_outage_started", None)
    down = _Outage()
    yield down
    down.end()
    connection.close()


@pytest.fixture
def raw_client():
    # As under a real server: an uncaught exception becomes a response, not a test error.
    return Client(raise_request_exception=False)


@pytest.mark.parametrize("debug", [True, False], ids=["debug", "no-debug"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v2/books"),
        ("get", "/api/v2/orders"),
        ("post", "/api/v2/orders"),
        ("get", "/admin/"),
        ("get", "/admin/catalog/book/"),
    ],
)
def test_an_unreachable_database_is_a_503_json_everywhere(
    database_down, raw_client, settings, debug, method, path
):
    settings.DEBUG = debug
    # The session cookie makes the admin look its user up; the token makes the API's
    # authentication query.
    raw_client.cookies["sessionid"] = "x" * 32
    response = getattr(raw_client, method)(
        path,
        headers={"Authorization": "Bearer sw_whatever"},
        content_type="application/json",
        data={} if method == "post" else None,
    )
    error = _assert_503(response)
    assert error["details"] == {"reason": "unavailable"}


def test_the_outage_is_logged_once_and_the_recovery_once(database_down, raw_client, caplog):
    caplog.set_level(logging.INFO, logger="shelfwise.database")
    for _ in range(3):
        _assert_503(raw_client.get("/api/v2/books", headers={"Authorization": "Bearer sw_x"}))
    [down] = _events(caplog, "database_unavailable")
    assert "127.0.0.1" in down["error"] or "refused" in down["error"].lower()
    # Django's own per-request error line (with its traceback) is not repeated.
    assert not [r for r in caplog.records if r.name == "django.request"]
    assert _events(caplog, "database_recovered") == []

    database_down.end()
    response = raw_client.get("/api/v2/ready")
    assert response.status_code == 200
    [up] = _events(caplog, "database_recovered")
    assert up["outage_s"] >= 0
    assert len(_events(caplog, "database_unavailable")) == 1


# --- Bounded work: statement_timeout and lock_timeout -------------------------------


SHOW_LIMITS = """
import django; django.setup()
from django.db import connection
with connection.cursor() as cursor:
    for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"):
        cursor.execute(f"SHOW {name}")
        print(name, cursor.fetchone()[0])
"""


@pytest.mark.django_db
def test_server_connections_start_with_the_request_time_limits(child_process):
    # Read in a process with the real settings, as gunicorn has them (the test process
    # itself runs without limits: shelfwise/settings/test.py).
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shelfwise.settings",
        "DATABASE_URL": current_database_url(),
    }
    out = child_process(
        [sys.executable, "-c", SHOW_LIMITS],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    shown = dict(line.split() for line in out.splitlines())
    assert shown == {
        "statement_timeout": "5s",
        "lock_timeout": "3s",
        "idle_in_transaction_session_timeout": "10s",
    }


@pytest.fixture
def short_statement_timeout(transactional_db):
    """The connection's statement_timeout lowered for this test, so it runs fast; the
    connection is closed afterwards, so the next one starts with the settings' limits."""
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = '300ms'")
    yield
    connection.close()


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.mark.urls("tests.db_failure_urls")
@pytest.mark.parametrize("path", ["/api/v2/test-sleep", "/test-sleep"], ids=["drf", "django"])
def test_a_query_cancelled_by_statement_timeout_is_a_503_and_the_connection_lives_on(
    short_statement_timeout, raw_client, caplog, path
):
    pid = _backend_pid()
    error = _assert_503(raw_client.get(path), code="database_timeout", retry_after="1")
    assert error["details"] == {"reason": "statement_timeout"}
    [event] = [
        r.msg for r in caplog.records if r.name == "shelfwise.database" and r.levelname == "WARNING"
    ]
    assert event["event"] == "database_timeout" and event["reason"] == "statement_timeout"
    # The same connection answers the next request.
    assert raw_client.get("/api/v2/ready").status_code == 200
    assert _backend_pid() == pid


@pytest.fixture
def request_lock_timeout(transactional_db):
    """The servers' lock_timeout on this test's connection (closed afterwards)."""
    with connection.cursor() as cursor:
        lock_ms = settings.DB_REQUEST_TIMEOUTS_MS["lock_timeout"]
        cursor.execute(f"SET lock_timeout = {int(lock_ms)}")
    yield
    connection.close()


def test_an_order_for_a_locked_book_is_a_503_within_the_lock_timeout(
    request_lock_timeout, raw_client
):
    tenant = TenantFactory()
    book = BookFactory(tenant=tenant, stock=10)
    _, raw = api_token_issue(user=UserFactory(tenant=tenant))
    params = connection.get_connection_params()
    blocker = psycopg.connect(
        host=params["host"], port=params["port"], user=params["user"], dbname=params["dbname"]
    )
    # Bounded: without a lock_timeout the order would wait until this lets go.
    release = threading.Timer(30, blocker.rollback)
    try:
        blocker.execute("SELECT 1 FROM catalog_book WHERE id = %s FOR UPDATE", [book.pk])
        release.start()
        response = raw_client.post(
            "/api/v2/orders",
            {"items": [{"book_id": str(book.pk), "quantity": 1}]},
            content_type="application/json",
            headers={"Authorization": f"Bearer {raw}"},
        )
    finally:
        release.cancel()
        blocker.rollback()
        blocker.close()
    error = _assert_503(response, code="database_timeout", retry_after="1")
    assert error["details"] == {"reason": "lock_timeout"}
    assert not Order.objects.across_tenants("test").exists()
    book.refresh_from_db()
    assert book.stock == 10
