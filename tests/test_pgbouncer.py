"""ShelfWise behind PgBouncer in transaction pooling: a real pgbouncer (Debian's) configured
from deploy/pgbouncer/pgbouncer.ini, a real gunicorn with DATABASE_POOLER=pgbouncer, and
the orders' concurrency cases over HTTP through it: no oversell, no deadlock, one order
per idempotency key; repeated reads and the export's cursor; the pool's limits."""

from __future__ import annotations

import urllib.request
from collections import Counter
from collections.abc import Iterator

import psycopg
import pytest

from catalog.models import Book
from orders.models import Order
from orders.tests.test_orders_concurrency import Http, in_parallel, order_of
from perf.process import ServerProcess, free_port
from shelfwise.serving import gunicorn_command, health_url
from tenants.services import api_token_issue
from tests.factories import BookFactory, TenantFactory, UserFactory
from tests.harness.pgbouncer import PGBOUNCER

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.allow_repeats("parallel clients repeat the same requests by design"),
    pytest.mark.skipif(PGBOUNCER is None, reason="pgbouncer missing: install Debian's pgbouncer"),
]


@pytest.fixture(scope="module")
def server(pgbouncer, tmp_path_factory) -> Iterator[str]:
    """gunicorn with DATABASE_POOLER=pgbouncer, its DATABASE_URL the PgBouncer."""
    listen, user, dbname = pgbouncer
    port = free_port()
    argv, env = gunicorn_command(
        bind=f"127.0.0.1:{port}",
        workers=2,
        database_url=f"postgres://{user}@127.0.0.1:{listen}/{dbname}",
        env={
            "DATABASE_POOLER": "pgbouncer",
            "DJANGO_DEBUG": "0",
            "API_THROTTLE_RATE": "100000/min",
        },
    )
    log = tmp_path_factory.mktemp("app") / "app.log"
    with ServerProcess(argv, env=env, health_url=health_url(port), log_path=log):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def app(server) -> Http:
    tenant = TenantFactory()
    _, raw = api_token_issue(user=UserFactory(tenant=tenant))
    client = Http(server, raw)
    client.tenant = tenant
    return client


def _get(http: Http, path: str) -> int:
    request = urllib.request.Request(http.base_url + path, headers=http.headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        return response.status


def test_the_pool_sets_the_request_limits(pgbouncer):
    listen, user, dbname = pgbouncer
    with psycopg.connect(host="127.0.0.1", port=listen, user=user, dbname=dbname) as conn:
        names = ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
        limits = [conn.execute(f"SHOW {name}").fetchone()[0] for name in names]
    assert limits == ["5s", "3s", "10s"]


def test_libpq_options_are_refused_by_pgbouncer_which_is_why_the_setting_exists(pgbouncer):
    listen, user, dbname = pgbouncer
    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter"):
        psycopg.connect(
            host="127.0.0.1", port=listen, user=user, dbname=dbname, options="-c lock_timeout=1"
        )


def test_no_oversell_through_pgbouncer(app):
    book = BookFactory(tenant=app.tenant, stock=10)
    results = in_parallel([lambda: app.post("/api/v2/orders", order_of((book, 1)))] * 30)
    assert Counter(status for status, _ in results) == {201: 10, 409: 20}, results
    book.refresh_from_db()
    assert book.stock == 0


def test_opposite_lock_orders_never_deadlock_through_pgbouncer(app):
    a, b = (BookFactory(tenant=app.tenant, stock=100) for _ in range(2))
    calls = [lambda: app.post("/api/v2/orders", order_of((a, 1), (b, 1)))] * 10
    calls += [lambda: app.post("/api/v2/orders", order_of((b, 1), (a, 1)))] * 10
    results = in_parallel(calls)
    assert [status for status, _ in results] == [201] * 20, results
    assert sorted(Book.objects.for_tenant(app.tenant).values_list("stock", flat=True)) == [80, 80]


def test_one_idempotency_key_makes_one_order_through_pgbouncer(app):
    book = BookFactory(tenant=app.tenant, stock=50)
    headers = {"Idempotency-Key": "pgbouncer-retry-1"}
    results = in_parallel(
        [lambda: app.post("/api/v2/orders", order_of((book, 2)), headers=headers)] * 10
    )
    statuses = Counter(status for status, _ in results)
    assert set(statuses) <= {200, 201, 409} and statuses[201] == 1, results
    assert Order.objects.for_tenant(app.tenant).count() == 1


def test_repeated_reads_and_the_export_work_through_pgbouncer(app):
    BookFactory.create_batch(3, tenant=app.tenant)
    # The same statements, many times, over whichever server connection PgBouncer picks:
    # nothing may rely on state a previous transaction left on its connection.
    statuses = in_parallel([lambda: _get(app, "/api/v2/books?limit=2")] * 12)
    statuses += [_get(app, "/api/v2/books?limit=2") for _ in range(12)]
    assert statuses == [200] * 24
    # The export: a server-side cursor and SET LOCAL inside its own transaction.
    request = urllib.request.Request(app.base_url + "/api/v2/books/export", headers=app.headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        lines = response.read().splitlines()
    assert len(lines) >= 3
