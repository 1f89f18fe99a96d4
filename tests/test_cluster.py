"""The production topology on one machine, every piece a real process on 127.0.0.1: a
PostgreSQL primary and its streaming replica (pg_basebackup), PgBouncer in front of the
primary, Redis, two gunicorn app nodes, and HAProxy in front of them, configured from
deploy/ (deploy/compose.yaml describes the same topology in containers).

Through the balancer: 200 concurrent buyers for 10 copies make exactly 10 orders; an app
node killed mid-load costs no failed GET (the balancer retries idempotent requests on the
other node) and no acknowledged order; the replica stopped mid-load costs no failed
request. Reads on the replica and read-your-writes are tests/test_replica.py's, the
throttle across nodes tests/test_shared_state.py's, and the pool tests/test_pgbouncer.py's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
import pytest

from perf.process import ServerProcess, free_port
from shelfwise.serving import gunicorn_command, health_url
from tests.harness.pgbouncer import PGBOUNCER, running_pgbouncer
from tests.harness.postgres import PG_BIN, Cluster, as_postgres, manage
from tests.harness.servers import redis_up

HAPROXY = shutil.which("haproxy") or next(
    (p for p in ("/usr/sbin/haproxy",) if os.path.exists(p)), None
)
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"

pytestmark = [
    # By hand: the module-scoped topology starts its own ServerProcesses (server_process
    # is per test); migrated_cluster, a slow harness fixture, marks these tests too.
    pytest.mark.slow,
    pytest.mark.skipif(PG_BIN is None, reason="PostgreSQL server binaries missing (postgresql)"),
    pytest.mark.skipif(PGBOUNCER is None, reason="pgbouncer missing: install Debian's pgbouncer"),
    pytest.mark.skipif(HAPROXY is None, reason="haproxy missing: install Debian's haproxy"),
    pytest.mark.skipif(not redis_up(), reason="no Redis on 127.0.0.1:6379"),
]


class Topology:
    def __init__(self, cluster: Cluster, balancer: str, nodes: list[ServerProcess]) -> None:
        self.cluster = cluster
        self.balancer = balancer
        self.nodes = nodes

    def primary(self, statement: str) -> list[tuple[Any, ...]]:
        return self.cluster.sql(self.cluster.primary_port, statement)


def _haproxy_config(listen: int, node_ports: list[int]) -> str:
    """deploy/haproxy/haproxy.cfg with loopback addresses and the test's ports."""
    lines = []
    servers = iter(node_ports)
    for line in (DEPLOY / "haproxy" / "haproxy.cfg").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("bind "):
            line = f"    bind 127.0.0.1:{listen}"
        elif stripped.startswith("server "):
            name = stripped.split()[1]
            line = f"    server {name} 127.0.0.1:{next(servers)} check"
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def topology(migrated_cluster: Cluster, tmp_path_factory) -> Iterator[Topology]:
    cluster = migrated_cluster
    logs = tmp_path_factory.mktemp("cluster")
    with ExitStack() as stack:
        pooler = stack.enter_context(
            running_pgbouncer("127.0.0.1", str(cluster.primary_port), "postgres", "shelfwise")
        )
        prefix = f"cluster-{uuid.uuid4().hex}"
        nodes, ports = [], []
        for n in range(2):
            port = free_port()
            argv, env = gunicorn_command(
                bind=f"127.0.0.1:{port}",
                workers=2,
                database_url=f"postgres://postgres@127.0.0.1:{pooler}/shelfwise",
                env={
                    "DATABASE_POOLER": "pgbouncer",
                    "DATABASE_REPLICA_URL": cluster.url(cluster.replica_port),
                    "REDIS_URL": "redis://127.0.0.1:6379/0",
                    "CACHE_KEY_PREFIX": prefix,
                    "DJANGO_DEBUG": "0",
                    "API_THROTTLE_RATE": "1000000/min",
                },
            )
            node = ServerProcess(
                argv, env=env, health_url=health_url(port), log_path=logs / f"app{n}.log",
                new_session=True,
            )  # fmt: skip
            stack.enter_context(node)
            nodes.append(node)
            ports.append(port)
        listen = free_port()
        config = logs / "haproxy.cfg"
        config.write_text(_haproxy_config(listen, ports))
        assert HAPROXY is not None
        stack.enter_context(
            ServerProcess(
                [HAPROXY, "-db", "-f", str(config)],
                health_url=f"http://127.0.0.1:{listen}/api/v2/health",
                log_path=logs / "haproxy.log",
            )
        )
        yield Topology(cluster, f"http://127.0.0.1:{listen}", nodes)


def _setup_tenant(topology: Topology, slug: str, stock: int) -> tuple[str, str]:
    """A tenant with one book of ``stock`` copies; returns (token, book id)."""
    code = (
        "from decimal import Decimal; from tenants.models import Tenant; "
        "from catalog.services import BookImportRow, books_bulk_upsert; "
        f"t = Tenant.objects.create(slug={slug!r}, name={slug!r}); "
        "r = books_bulk_upsert(tenant=t, rows=[BookImportRow(isbn='9780306406157', "
        f"title='Last Copies', price=Decimal('9.99'), author='A', publisher='P', stock={stock})]); "
        "print('BOOK', r.books[0].id)"
    )
    out = manage(topology.cluster, "shell", "-c", code)
    book_id = out.split("BOOK", 1)[1].split()[0]
    token_out = manage(topology.cluster, "issue_token", slug, "buyer")
    token = next(word for word in token_out.split() if word.startswith("sw_"))
    return token, book_id


def _request(base: str, token: str, path: str, body: Any = None, key: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(
        base + path,
        data=orjson.dumps(body) if body is not None else None,
        headers=headers,
        method="POST" if body is not None else "GET",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code
    except OSError:
        return 0  # the connection failed or broke


def test_two_hundred_buyers_through_the_balancer_make_exactly_ten_orders(topology):
    token, book_id = _setup_tenant(topology, "last-ten", stock=10)
    order = {"items": [{"book_id": book_id, "quantity": 1}]}
    barrier = threading.Barrier(200)

    def buy(_: int) -> int:
        barrier.wait(timeout=60)
        return _request(topology.balancer, token, "/api/v2/orders", order)

    with ThreadPoolExecutor(max_workers=200) as pool:
        statuses = list(pool.map(buy, range(200)))
    assert statuses.count(201) == 10, sorted(statuses)
    assert statuses.count(409) == 190, sorted(statuses)
    [(stock, orders)] = topology.primary(
        f"SELECT b.stock, (SELECT count(*) FROM orders_order o WHERE o.tenant_id = b.tenant_id)"
        f" FROM catalog_book b WHERE b.id = '{book_id}'"
    )
    assert (stock, orders) == (0, 10)


def _load(
    topology: Topology, token: str, book_id: str, seconds: float, during: Any
) -> tuple[list[int], dict[str, int]]:
    """GETs and orders through the balancer for ``seconds``; ``during`` runs a third of
    the way in. Each order has its own Idempotency-Key and is retried with it on a broken
    connection, as a client should; returns the GET statuses and, per key, the final
    status of its order."""
    stop = time.monotonic() + seconds
    gets: list[int] = []
    orders: dict[str, int] = {}
    lock = threading.Lock()

    def browse() -> None:
        while time.monotonic() < stop:
            status = _request(topology.balancer, token, "/api/v2/books?limit=5")
            with lock:
                gets.append(status)

    def buy() -> None:
        while time.monotonic() < stop:
            key = uuid.uuid4().hex
            body = {"items": [{"book_id": book_id, "quantity": 1}]}
            for _ in range(5):
                status = _request(topology.balancer, token, "/api/v2/orders", body, key)
                if status not in (0, 502, 503):
                    break
                time.sleep(0.2)
            with lock:
                orders[key] = status

    threads = [threading.Thread(target=browse) for _ in range(6)]
    threads += [threading.Thread(target=buy) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(seconds / 3)
    during()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    return gets, orders


def test_a_node_killed_mid_load_fails_no_get_and_loses_no_order(topology):
    token, book_id = _setup_tenant(topology, "node-loss", stock=100_000)
    victim = topology.nodes[0]

    def kill_node() -> None:
        assert victim.process is not None
        os.killpg(victim.process.pid, signal.SIGKILL)

    gets, orders = _load(topology, token, book_id, 9, kill_node)
    assert gets and set(gets) == {200}, sorted(set(gets))
    # 201 placed; 200 a retry with the same key that found its order already placed.
    acknowledged = sum(1 for status in orders.values() if status in (200, 201))
    assert acknowledged and set(orders.values()) <= {200, 201}, orders
    [(placed,)] = topology.primary(
        "SELECT count(*) FROM orders_order o JOIN tenants_tenant t ON t.id = o.tenant_id "
        "WHERE t.slug = 'node-loss'"
    )
    assert placed == acknowledged  # none lost, none twice


def test_the_replica_stopped_mid_load_fails_no_request(topology):
    token, book_id = _setup_tenant(topology, "replica-loss", stock=100_000)

    def stop_replica() -> None:
        subprocess.run(
            [str(PG_BIN / "pg_ctl"), "-D", str(topology.cluster.folder / "replica"), "-m",
             "fast", "stop"],
            capture_output=True, timeout=60, check=True,
            preexec_fn=_postgres_user(),
        )  # fmt: skip

    try:
        gets, orders = _load(topology, token, book_id, 6, stop_replica)
    finally:
        topology.cluster.ctl(topology.cluster.folder / "replica", "start")
    assert gets and set(gets) == {200}, sorted(set(gets))
    assert set(orders.values()) <= {200, 201}, orders


def _postgres_user() -> Any:
    return as_postgres()
