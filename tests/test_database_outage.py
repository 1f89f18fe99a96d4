"""A real outage under load: a throwaway PostgreSQL cluster of this test's own, a real
gunicorn in front of it, client threads placing orders and reading while the server is
stopped (``pg_ctl stop -m immediate``) and started again.

During the outage every answer is a 503 (never a 500, never a hang); every request sent
after the server is back succeeds (no restart, no warm-up); no acknowledged order is lost.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from perf.process import free_port
from shelfwise.db.embedded.server import EmbeddedPostgres
from tests.harness.postgres import stop_immediately

ROOT = Path(__file__).resolve().parent.parent
REQUEST_TIMEOUT_S = 15  # the bound on any one request: past it, the request "hung"
WORKERS = 2
CLIENTS = 4

SETUP = """
import json
from tenants.services import api_token_issue, user_get_or_create
from tests.factories import BookFactory, TenantFactory
tenant = TenantFactory(slug="outage")
book = BookFactory(tenant=tenant, stock=1_000_000)
_, raw = api_token_issue(user=user_get_or_create(tenant=tenant, username="outage-member"))
print(json.dumps({"token": raw, "book": str(book.pk)}))
"""


@dataclass(frozen=True)
class Call:
    kind: str  # "order" or "read"
    started: float
    finished: float
    status: int | str  # HTTP status, or "timeout" / "error"
    body: dict | None


class Clients:
    """CLIENTS threads alternating an order and a catalog read until stopped."""

    def __init__(self, base: str, token: str, book_id: str) -> None:
        self.base, self.token, self.book_id = base, token, book_id
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def __enter__(self) -> Clients:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT_S + 5)

    def since(self, t: float) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.started >= t]

    def wait_for(self, what: str, condition, bound_s: float = 60) -> None:
        deadline = time.monotonic() + bound_s
        while not condition():
            assert time.monotonic() < deadline, f"waited {bound_s} s for {what}"
            time.sleep(0.05)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._call("order")
            self._call("read")

    def _call(self, kind: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        if kind == "order":
            body = {"items": [{"book_id": self.book_id, "quantity": 1}]}
            request = urllib.request.Request(
                f"{self.base}/api/v2/orders",
                data=json.dumps(body).encode(),
                headers={
                    **headers,
                    "Content-Type": "application/json",
                    "Idempotency-Key": str(uuid.uuid4()),
                },
                method="POST",
            )
        else:
            request = urllib.request.Request(f"{self.base}/api/v2/books?limit=5", headers=headers)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except TimeoutError:
            status, raw = "timeout", b""
        except OSError:
            status, raw = "error", b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = {"not_json": raw[:200].decode(errors="replace")}
        with self._lock:
            self.calls.append(Call(kind, started, time.monotonic(), status, parsed))


def _manage(run, env: dict[str, str], *args: str) -> str:
    """``manage.py <args>`` in a child (``run``: the ``child_process`` fixture); its stdout."""
    result = run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture
def cluster(embedded_pg_root):
    server = EmbeddedPostgres(embedded_pg_root)
    server.acquire()
    yield server
    server.release()  # the last (only) user: stops it


# Slow through the harness: embedded_pg_root (via cluster), child_process, server_process.
def test_an_outage_under_load_is_503s_then_recovery_with_no_acknowledged_order_lost(
    cluster, tmp_path, child_process, server_process
):
    url = cluster.acquire().url()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "shelfwise.settings",
        "SHELFWISE_ENV": "dev",  # DEBUG on: the debug page is what a 500 used to be
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    _manage(child_process, env, "migrate", "--no-input", "-v", "0")
    seeded = json.loads(_manage(child_process, env, "shell", "-c", SETUP).strip().splitlines()[-1])

    port = free_port()
    log = tmp_path / "gunicorn.log"
    gunicorn = [sys.executable, "-m", "gunicorn", "--config", "shelfwise/serving/gunicorn.conf.py"]
    gunicorn += ["--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS)]
    base = f"http://127.0.0.1:{port}"
    with (
        server_process(gunicorn, env=env, log_path=log, health_url=f"{base}/api/v2/health"),
        Clients(base, seeded["token"], seeded["book"]) as clients,
    ):
        began = time.monotonic()
        clients.wait_for(
            "orders before the outage",
            lambda: sum(c.status == 201 for c in clients.since(began)) >= 10,
        )
        stop_immediately(cluster)
        down = time.monotonic()
        clients.wait_for(
            "503s during the outage",
            lambda: sum(c.status == 503 for c in clients.since(down)) >= 2 * CLIENTS,
        )
        cluster.acquire()  # pg_ctl start -w: returns once the server accepts connections
        up = time.monotonic()
        clients.wait_for(
            "successes after the restart",
            lambda: sum(c.status in (200, 201) for c in clients.since(up)) >= 4 * CLIENTS,
        )
    calls = clients.since(0)

    statuses = {c.status for c in calls}
    assert statuses <= {200, 201, 503}, sorted(map(str, statuses))  # no 500, hang, reset
    unavailable = [c for c in calls if c.status == 503]
    assert {c.body["error"]["code"] for c in unavailable} == {"database_unavailable"}
    # Recovery needs no restart and no warm-up: every request sent after the server was
    # back succeeded, the very first ones included.
    after = clients.since(up)
    assert [c.status for c in after if c.status not in (200, 201)] == []
    recovery_s = min(c.finished for c in after) - up
    phases = {
        "before": [c for c in calls if c.started < down],
        "during": [c for c in calls if down <= c.started < up],
        "after": after,
    }
    print(f"first answer after the restart: {recovery_s:.2f} s; calls: {len(calls)}")
    for name, phase in phases.items():  # shown with -s: the figures behind the issue note
        print(name, dict(sorted(Counter(c.status for c in phase).items())))
    assert recovery_s < 5

    acknowledged = [c.body["id"] for c in calls if c.kind == "order" and c.status == 201]
    with psycopg.connect(url.replace("postgres://", "postgresql://")) as conn:
        stored = {
            str(row[0])
            for row in conn.execute(
                "SELECT id FROM orders_order WHERE id = ANY(%s::uuid[])", [acknowledged]
            )
        }
    assert len(acknowledged) >= 10
    assert set(acknowledged) == stored

    text = log.read_text()
    # Named once when a worker's outage starts and once when it ends, not per request. A
    # request whose connect began before the restart can still fail just after another
    # thread of its worker reconnected (seen on a loaded machine: "not yet accepting
    # connections"), which opens and closes one more short episode for that worker.
    went_down, came_back = text.count("database_unavailable"), text.count("database_recovered")
    assert 1 <= went_down <= came_back + WORKERS, text[-5000:]
    assert went_down <= len(unavailable) // 2, text[-5000:]
    assert "Traceback" not in text, text[-5000:]
