"""`manage.py silk_overhead`'s requests: a refused or failed one is a clear CommandError."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from django.core.management import CommandError

from benchmarks.silk import _timed_get
from perf.process import free_port


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    """Answers 200 to /ok, 401 to /private (as the API does without a token), 500 else."""

    def app(environ, start_response):
        status = {"/ok": "200 OK", "/private": "401 Unauthorized"}.get(
            environ["PATH_INFO"], "500 Internal Server Error"
        )
        start_response(status, [("Content-Type", "application/json")])
        return [b"{}"]

    httpd = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_port
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_200_is_timed(server):
    assert _timed_get(server, "/ok", {}) > 0


def test_a_missing_or_bad_token_says_how_to_pass_one(server):
    with pytest.raises(CommandError, match=r"HTTP 401: .*--header 'Authorization: Bearer"):
        _timed_get(server, "/private", {})


def test_another_status_or_no_server_is_a_clear_error(server):
    with pytest.raises(CommandError, match="HTTP 500, not 200"):
        _timed_get(server, "/boom", {})
    with pytest.raises(CommandError, match=r"no answer from 127\.0\.0\.1"):
        _timed_get(free_port(), "/ok", {})
