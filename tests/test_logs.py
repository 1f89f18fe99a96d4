"""One log format: Django's lines and gunicorn's, JSON in staging and prod, each
request's id on its lines and in its response."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from types import SimpleNamespace

import pytest
import structlog
from django.conf import settings
from django.core.signals import request_finished
from gunicorn.config import Config

from shelfwise.serving.gunicorn_logs import JsonLogger
from shelfwise.serving.logs import RequestIdMiddleware, formatter


def _record_with_exception() -> logging.LogRecord:
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    return logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s", ("/x",), exc_info
    )


def test_a_traceback_is_rendered_as_text_not_as_an_object():
    line = json.loads(formatter(json=True).format(_record_with_exception()))
    assert line["event"] == "Internal Server Error: /x"
    assert line["level"] == "error" and line["logger"] == "django.request"
    assert "Traceback (most recent call last)" in line["exception"]
    assert "ValueError: boom" in line["exception"]
    assert "<traceback object" not in json.dumps(line)


def _seen_request_id(headers: dict[str, str]) -> tuple[str, str]:
    """(the id bound while the request ran, the id sent back)."""
    seen = {}

    def view(request):
        seen.update(structlog.contextvars.get_contextvars())
        return {}

    request = SimpleNamespace(
        META={f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    )
    response = RequestIdMiddleware(view)(request)
    # Still bound while Django logs the response; forgotten when it is closed.
    assert structlog.contextvars.get_contextvars() == {"request_id": seen["request_id"]}
    request_finished.send(sender=None)
    assert structlog.contextvars.get_contextvars() == {}
    return seen["request_id"], response["X-Request-ID"]


@pytest.mark.django_db  # request_finished also closes old database connections
def test_each_request_gets_an_id_on_its_log_lines_and_in_its_response():
    bound, sent = _seen_request_id({})
    assert bound == sent and len(sent) == 32
    assert _seen_request_id({})[0] != bound  # a new one each time


@pytest.mark.django_db
def test_a_sane_incoming_id_is_kept_and_anything_else_replaced():
    assert _seen_request_id({"X-Request-ID": "lb-7f3a.42"}) == ("lb-7f3a.42", "lb-7f3a.42")
    for bad in ("has space", "x" * 129, 'quote"d', ""):
        bound, sent = _seen_request_id({"X-Request-ID": bad})
        assert bound == sent != bad and len(sent) == 32


def test_gunicorn_access_lines_are_json_events_with_the_request_id(tmp_path):
    log = tmp_path / "access.log"
    cfg = Config()
    cfg.set("accesslog", str(log))
    logger = JsonLogger(cfg)
    response = SimpleNamespace(
        status="200 OK",
        sent=123,
        headers=[("Content-Type", "application/json"), ("X-Request-ID", "abc")],
    )
    environ = {
        "REMOTE_ADDR": "127.0.0.1",
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/api/v2/books?limit=5",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": "/api/v2/books",
        "QUERY_STRING": "limit=5",
    }
    request = SimpleNamespace(headers=[])
    logger.access(response, request, environ, dt.timedelta(milliseconds=12.5))
    for handler in logger.access_log.handlers:
        handler.flush()
    line = json.loads(log.read_text().splitlines()[-1])
    assert line["event"] == "request" and line["logger"] == "gunicorn.access"
    assert (line["method"], line["path"], line["query"], line["status"]) == (
        "GET", "/api/v2/books", "limit=5", 200,
    )  # fmt: skip
    assert (line["bytes"], line["duration_ms"], line["request_id"]) == (123, 12.5, "abc")
    assert "timestamp" in line


def test_responses_carry_the_request_id(client):
    response = client.get("/api/v2/health", headers={"X-Request-ID": "probe-1"})
    assert response["X-Request-ID"] == "probe-1"
    assert len(client.get("/api/v2/health")["X-Request-ID"]) == 32


def test_the_request_id_comes_first_in_every_profile():
    # So that every other middleware's lines, the outage guard's included, carry it.
    assert settings.MIDDLEWARE[0] == "shelfwise.serving.logs.RequestIdMiddleware"
