"""ShelfWise behind PgBouncer in transaction pooling: a real pgbouncer (Debian's) configured
from deploy/pgbouncer/pgbouncer.ini, a real gunicorn with DATABASE_POOLER=pgbouncer, and
the orders' concurrency cases over HTTP through it: no oversell, no deadlock, one order
per idempotency key; repeated reads and the export's cursor; the pool's limits."""

from __future__ import annotations

import configparser
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
import pytest

from catalog.models import Book
from orders.models import Order
from orders.tests.test_orders_concurrency import Http, in_parallel, order_of
from perf.process import ServerProcess, free_port
from shelfwise.db.urls import current_database_url
from shelfwise.serving import gunicorn_command, health_url
from tenants.services import api_token_issue
from tests.factories import BookFactory, TenantFactory, UserFactory

PGBOUNCER = shutil.which("pgbouncer") or next(
    (p for p in ("/usr/sbin/pgbouncer",) if os.path.exists(p)), None
)
DEPLOY_INI = Path(__file__).resolve().parents[1] / "deploy" / "pgbouncer" / "pgbouncer.ini"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.allow_repeats("parallel clients repeat the same requests by design"),
    pytest.mark.skipif(PGBOUNCER is None, reason="pgbouncer missing: install Debian's pgbouncer"),
]


def _target() -> tuple[str, str, str, str]:
    """(host or socket folder, port, user, database) of this test run's database. The
    embedded server's URL carries its socket folder, percent-encoded, as the host."""
    url = urlsplit(current_database_url())
    if url.password:
        pytest.skip("the test's PostgreSQL needs a password; this test passes none")
    location = url.netloc.rpartition("@")[2]
    host, _, port = location.rpartition(":") if ":" in location else (location, "", "")
    query = dict(part.split("=", 1) for part in url.query.split("&") if "=" in part)
    host = unquote(query.get("host") or host or "127.0.0.1")
    port = query.get("port") or port or "5432"
    return host, port, unquote(url.username or "postgres"), unquote(url.path.lstrip("/"))


def _run_as(host: str) -> tuple[int, int] | None:
    """pgbouncer refuses to run as root: as root, it runs as the owner of the server's
    socket folder (the embedded server's own user, who alone may enter it), or nobody."""
    if os.geteuid() != 0:
        return None
    if host.startswith("/"):
        owner = os.stat(host)
        if owner.st_uid != 0:
            return owner.st_uid, owner.st_gid
    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


@contextmanager
def running_pgbouncer(host: str, port: str, user: str, dbname: str) -> Iterator[int]:
    """PgBouncer on a free loopback port, with deploy/'s pool settings, in front of
    ``dbname`` at ``host:port``; yields its port."""
    assert PGBOUNCER is not None
    deployed = configparser.ConfigParser(interpolation=None)
    deployed.read(DEPLOY_INI)
    pool = deployed["databases"]["shelfwise"]
    connect_query = pool[pool.index("connect_query=") :]
    # Not under tmp_path: pytest's folders are private to root, and pgbouncer runs as
    # nobody when the tests run as root.
    folder = Path(tempfile.mkdtemp(prefix="shelfwise-pgbouncer-"))
    listen = free_port()
    settings = dict(deployed["pgbouncer"])
    settings.update(
        listen_addr="127.0.0.1",
        listen_port=str(listen),
        auth_type="any",  # the test's PostgreSQL trusts local connections
        logfile=str(folder / "pgbouncer.log"),
        pidfile=str(folder / "pgbouncer.pid"),
        unix_socket_dir="",
    )
    settings.pop("auth_file", None)
    ini = folder / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"{dbname} = host={host} port={port} dbname={dbname} user={user} {connect_query}\n"
        "[pgbouncer]\n" + "".join(f"{key} = {value}\n" for key, value in settings.items())
    )
    argv = [PGBOUNCER, str(ini)]
    run_as = _run_as(host)
    if run_as is not None:
        os.chmod(folder, 0o777)
        ini.chmod(0o644)
        argv = ["setpriv", f"--reuid={run_as[0]}", f"--regid={run_as[1]}",
                "--clear-groups", *argv]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with psycopg.connect(
                    host="127.0.0.1", port=listen, user=user, dbname=dbname, connect_timeout=2
                ):
                    break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or process.poll() is not None:
                    log = folder / "pgbouncer.log"
                    raise RuntimeError(log.read_text() if log.exists() else "no log") from None
                time.sleep(0.2)
        yield listen
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def pgbouncer(django_db_setup) -> Iterator[tuple[int, str, str]]:
    """PgBouncer in front of this test run's database."""
    host, port, user, dbname = _target()
    with running_pgbouncer(host, port, user, dbname) as listen:
        yield listen, user, dbname


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
