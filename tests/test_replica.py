"""DATABASE_REPLICA_URL against a real streaming replica: a PostgreSQL primary and a
replica made with pg_basebackup, both on loopback, and a real gunicorn using both.

Where a read ran shows in what it sees: with the replica's replay paused, a book written
on the primary is invisible to reads on the replica."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from perf.process import ServerProcess, free_port
from shelfwise.serving import gunicorn_command, health_url
from tests.harness.postgres import PG_BIN, Cluster, manage

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PG_BIN is None, reason="PostgreSQL server binaries missing (postgresql)"),
]


@pytest.fixture(scope="module")
def cluster(migrated_cluster: Cluster) -> Cluster:
    manage(
        migrated_cluster,
        "shell",
        "-c",
        "from tenants.models import Tenant; [Tenant.objects.create("
        "slug=s, name=s) for s in ('corner-books', 'riverside-reads', 'harbor-lights')]",
    )
    return migrated_cluster


def _app(cluster: Cluster, log: Path, max_lag_s: int) -> ServerProcess:
    port = free_port()
    argv, env = gunicorn_command(
        bind=f"127.0.0.1:{port}",
        workers=1,
        database_url=cluster.url(cluster.primary_port),
        env={
            "DATABASE_REPLICA_URL": cluster.url(cluster.replica_port),
            "REPLICA_MAX_LAG_SECONDS": str(max_lag_s),
            "REPLICA_CHECK_SECONDS": "0",
            "REPLICA_PIN_SECONDS": "60",
            "DJANGO_DEBUG": "0",
            "API_THROTTLE_RATE": "100000/min",
        },
        env_unset=["REDIS_URL"],
    )
    server = ServerProcess(argv, env=env, health_url=health_url(port), log_path=log)
    server.base_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    return server


@pytest.fixture(scope="module")
def app(cluster, tmp_path_factory) -> Iterator[str]:
    """Lag never skips this one's replica: what it reads shows where it reads."""
    server = _app(cluster, tmp_path_factory.mktemp("replica-app") / "app.log", 3600)
    with server:
        yield server.base_url  # type: ignore[attr-defined]


def _token(cluster: Cluster, tenant: str, username: str, role: str = "member") -> str:
    out = manage(cluster, "issue_token", tenant, username, "--role", role)
    return next(word for word in out.split() if word.startswith("sw_"))


def _call(base: str, token: str, path: str, body: object = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        base + path,
        data=orjson.dumps(body) if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, orjson.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_for_replay(cluster: Cluster) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        [(sent,)] = cluster.sql(cluster.primary_port, "SELECT pg_current_wal_lsn()")
        [(caught_up,)] = cluster.sql(
            cluster.replica_port, f"SELECT pg_last_wal_replay_lsn() >= '{sent}'::pg_lsn"
        )
        if caught_up:
            return
        time.sleep(0.1)
    raise AssertionError("the replica did not catch up in 30 s")


def _add_book_on_the_primary(cluster: Cluster, tenant: str, title: str) -> None:
    """A write that no request of the app made (so nothing pins the tenant)."""
    code = (
        "from catalog.services import BookImportRow, books_bulk_upsert; "
        "from tenants.models import Tenant; "
        f"t = Tenant.objects.get(slug={tenant!r}); "
        "books_bulk_upsert(tenant=t, rows=[BookImportRow(isbn='9780306406157', "
        f"title={title!r}, price=__import__('decimal').Decimal('9.99'), author='A', "
        "publisher='P')])"
    )
    manage(cluster, "shell", "-c", code)


def _count(base: str, token: str) -> int:
    status, body = _call(base, token, "/api/v2/books/search?q=Replicated")
    assert status == 200, body
    return int(body["count"])


def test_catalog_reads_go_to_the_replica_and_a_client_reads_its_own_writes(cluster, app):
    reader = _token(cluster, "corner-books", "reader")
    operator = _token(cluster, "riverside-reads", "importer", role="operator")
    _wait_for_replay(cluster)
    cluster.sql(cluster.replica_port, "SELECT pg_wal_replay_pause()")
    try:
        # Written on the primary behind the app's back: its reads, on the paused replica,
        # cannot see it yet.
        _add_book_on_the_primary(cluster, "corner-books", "Replicated Harbour")
        assert _count(app, reader) == 0
        # The app's own write pins its tenant to the primary: read-your-writes.
        row = {"isbn": "9780306406157", "title": "Replicated Lantern", "price": "9.99",
               "author": "Ines Aalto", "publisher": "Onboard Press"}  # fmt: skip
        status, body = _call(app, operator, "/api/v2/books/bulk", [row])
        assert status == 200, body
        assert _count(app, operator) == 1
        status, ready = _call(app, reader, "/api/v2/ready")
        assert status == 200 and ready["replica"] == "ok", ready
    finally:
        cluster.sql(cluster.replica_port, "SELECT pg_wal_replay_resume()")
    _wait_for_replay(cluster)
    assert _count(app, reader) == 1  # replayed: the replica has it now


def test_a_lagging_then_stopped_replica_is_skipped_not_fatal(cluster, tmp_path):
    token = _token(cluster, "harbor-lights", "skipper")
    _wait_for_replay(cluster)
    with _app(cluster, tmp_path / "app.log", 1) as server:
        base = server.base_url  # type: ignore[attr-defined]
        cluster.sql(cluster.replica_port, "SELECT pg_wal_replay_pause()")
        try:
            _add_book_on_the_primary(cluster, "harbor-lights", "Replicated Ember")
            time.sleep(2)  # the replica is now more than REPLICA_MAX_LAG_SECONDS behind
            status, ready = _call(base, token, "/api/v2/ready")
            assert status == 200 and ready["replica"] == "lagging", ready
            assert ready["replica_lag_seconds"] > 1
            assert _count(base, token) == 1  # read on the primary
        finally:
            cluster.sql(cluster.replica_port, "SELECT pg_wal_replay_resume()")
        cluster.ctl(cluster.folder / "replica", "stop")
        try:
            assert [_count(base, token) for _ in range(3)] == [1, 1, 1]
            status, ready = _call(base, token, "/api/v2/ready")
            assert status == 200 and ready["replica"] not in ("ok", "lagging"), ready
        finally:
            cluster.ctl(cluster.folder / "replica", "start")
