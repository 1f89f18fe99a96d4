"""The export under a real gunicorn (the project's config, a short worker timeout): a slow
reader gets every line and the completeness trailer; a stalled reader is cut off, which its
body shows, while other requests go on being served."""

from __future__ import annotations

import http.client
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from perf.process import free_port
from shelfwise.db.urls import current_database_url
from shelfwise.seeding import SeedPlan, TenantSpec, seed_tenant, tenants_delete
from tenants.models import Role, User
from tenants.services import api_token_issue
from tests.harness.postgres import other_sessions

ROOT = Path(__file__).resolve().parents[2]
# Slow through the harness: every test takes ``server`` (gunicorn, by ``server_process``).

WORKER_TIMEOUT_S = 2  # gunicorn's --timeout: the export must outlive it several times
SEND_TIMEOUT_S = 10  # EXPORT_SEND_TIMEOUT of the server under test
CLIENT_RCVBUF = 8192  # small, so that the server's sends wait for the reader
# About 5.6 MB of NDJSON: more than the kernel buffers between server and client hold
# (the server's send buffer grows to tcp_wmem's maximum, 4 MB here), so the server is
# still writing long after the worker timeout and a stalled reader blocks its sends.
BOOKS = 16_000
READ_RATE = 300_000  # bytes per second: about 19 s for the whole export


@pytest.fixture(scope="module")
def catalog(django_db_setup, django_db_blocker):
    """A committed tenant of BOOKS books (the server reads it from another process), seeded
    once for the module with the seed command's COPY path, deleted afterwards."""
    spec = TenantSpec("export-reader", "Export Reader", BOOKS)
    with django_db_blocker.unblock():
        try:
            seed_tenant(SeedPlan(specs=[spec]), 0, spec, lambda total, label: lambda n: None)
            member = User.objects.get(tenant__slug=spec.slug, username="member", role=Role.MEMBER)
            _, raw = api_token_issue(user=member, name="export-test")
        except BaseException:
            # Committed rows would outlive the module and break every later test that
            # checks that nothing was written.
            tenants_delete(slugs=[spec.slug])
            raise
    yield raw
    with django_db_blocker.unblock():
        tenants_delete(slugs=[spec.slug])


@pytest.fixture
def server(catalog, db, tmp_path, server_process):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": current_database_url(),
        "DJANGO_DEBUG": "0",
        "EXPORT_SEND_TIMEOUT": str(SEND_TIMEOUT_S),
        "GUNICORN_LOG_LEVEL": "info",
    }
    argv = [
        sys.executable, "-m", "gunicorn",
        "--config", str(ROOT / "shelfwise" / "serving" / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}", "--workers", "1",
        "--timeout", str(WORKER_TIMEOUT_S),
    ]  # fmt: skip
    log = tmp_path / "server.log"
    with server_process(
        argv, env=env, health_url=f"http://127.0.0.1:{port}/api/v2/health", log_path=log
    ):
        yield port, catalog
    print(log.read_text()[-4000:])  # shown when the test fails


class _SmallWindow(http.client.HTTPConnection):
    """A client whose receive buffer is small, set before connecting (it sizes the TCP
    window): the server can get only a little ahead of what the client has read."""

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CLIENT_RCVBUF)
        self.sock.settimeout(self.timeout)
        self.sock.connect((self.host, self.port))


def _open_export(port: int, token: str) -> http.client.HTTPResponse:
    conn = _SmallWindow("127.0.0.1", port, timeout=120)
    conn.request("GET", "/api/v2/books/export", headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    assert response.status == 200
    return response


def _throttled(response: http.client.HTTPResponse, bytes_per_s: float) -> Iterator[bytes]:
    """The body in small reads, paced to ``bytes_per_s`` (the reader never goes faster)."""
    started = time.monotonic()
    received = 0
    while piece := response.read1(2048):
        received += len(piece)
        yield piece
        ahead = started + received / bytes_per_s - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


def _get(port: int, path: str, token: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _export_transactions() -> int:
    """Server-side export cursors open in this test database (the export's transaction)."""
    return other_sessions("state <> 'idle' AND query LIKE '%_django_curs_%'")


def test_slow_reader_gets_every_line_and_the_trailer(server):
    port, token = server
    response = _open_export(port, token)
    body = b""
    for piece in _throttled(response, READ_RATE):
        body += piece
    # read1() hands back b"" only at the chunked body's terminating chunk; a cut
    # stream raises IncompleteRead instead.
    lines = [orjson.loads(line) for line in body.splitlines()]
    books, trailer = lines[:-1], lines[-1]
    assert len({book["id"] for book in books}) == len(books) == BOOKS
    assert trailer == {"complete": True, "count": BOOKS}
    # The premise: at this pace the stream outlives gunicorn's worker timeout many times.
    assert len(body) / READ_RATE > 4 * WORKER_TIMEOUT_S


@pytest.mark.allow_repeats("the test polls pg_stat_activity")
def test_stalled_reader_is_cut_off_while_other_requests_are_served(server):
    port, token = server
    stalled = _open_export(port, token)  # headers read, then the client reads no more
    _poll(lambda: _export_transactions() == 1, "the export to start")
    # Meanwhile (its sends soon block on the full buffers) another thread serves the API.
    assert _get(port, "/api/v2/health", token) == 200
    assert _get(port, "/api/v2/books?limit=20", token) == 200
    assert _export_transactions() == 1, "the stalled export should still be open"
    # EXPORT_SEND_TIMEOUT after its last progress the export gives up and its thread is free.
    _poll(lambda: _export_transactions() == 0, "the stalled export to be cut off")
    assert _get(port, "/api/v2/health", token) == 200
    assert _get(port, "/api/v2/books?limit=20", token) == 200
    # The client sees the cut: the body ends early, without the trailer.
    with pytest.raises(http.client.IncompleteRead) as cut:
        stalled.read()
    stalled.close()
    lines = cut.value.partial.splitlines()
    assert len(lines) < BOOKS
    assert b'"complete"' not in lines[-1]


def _poll(condition, what: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
