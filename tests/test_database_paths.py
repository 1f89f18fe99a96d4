"""Both database paths: the embedded server (shared, crash-safe) and DATABASE_URL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from shelfwise.db.embedded.server import EmbeddedPostgres

ROOT = Path(__file__).resolve().parent.parent
EXTERNAL_URL = "postgres://postgres@127.0.0.1:5432/postgres"

pytestmark = pytest.mark.slow

PROBE = (
    "import django; django.setup();"
    "from django.db import connection;"
    "cur = connection.cursor(); cur.execute('SELECT pg_backend_pid() > 0');"
    "print(connection.vendor, connection.pg_version // 10000,"
    " connection.settings_dict['ENGINE'], connection.get_connection_params()['host'])"
)


def _env(**overrides: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SHELFWISE_PGDATA"}}
    env["DJANGO_SETTINGS_MODULE"] = "shelfwise.settings"
    env.update({k: v for k, v in overrides.items() if v is not None})
    return env


def _run(code: str, **env: str | None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _external_server_reachable() -> bool:
    try:
        psycopg.connect(EXTERNAL_URL, connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


@pytest.mark.skipif(not _external_server_reachable(), reason="no PostgreSQL on 127.0.0.1:5432")
def test_database_url_uses_that_server():
    out = _run(PROBE, DATABASE_URL=EXTERNAL_URL)
    vendor, major, engine, host = out.split()
    assert (vendor, engine, host) == ("postgresql", "django.db.backends.postgresql", "127.0.0.1")
    assert int(major) < 18  # the machine's own server, not the embedded PostgreSQL 18


def test_without_database_url_the_embedded_server_starts_lazily(embedded_pg_root):
    root = embedded_pg_root
    # Importing settings and starting Django opens no connection, so starts nothing.
    _run("import django; django.setup()", SHELFWISE_PGDATA=str(root))
    assert not (root / "data" / "postmaster.pid").exists()

    out = _run(PROBE, SHELFWISE_PGDATA=str(root))
    vendor, major, engine, host = out.split()
    assert (vendor, major, engine) == ("postgresql", "18", "shelfwise.db.embedded")
    assert host.startswith("/")  # a unix socket: no TCP port is opened
    # The process was the only user: it stopped the server on exit.
    assert EmbeddedPostgres(root).status() is None


ACQUIRE = (
    "import os, sys; from pathlib import Path;"
    "from shelfwise.db.embedded.server import EmbeddedPostgres;"
    "info = EmbeddedPostgres(Path(sys.argv[1])).acquire(); print(info.pid, flush=True);"
    "os._exit(1) if sys.argv[2] == 'crash' else None"
)


def _acquire_in_subprocess(root: Path, mode: str) -> int:
    result = subprocess.run(
        [sys.executable, "-c", ACQUIRE, str(root), mode],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == (1 if mode == "crash" else 0), result.stderr
    return int(result.stdout.split()[0])


def test_a_second_process_reuses_the_running_server_and_the_last_one_stops_it(embedded_pg_root):
    server = EmbeddedPostgres(embedded_pg_root)
    info = server.acquire()
    try:
        assert _acquire_in_subprocess(server.root, "exit") == info.pid
        # The second process has gone; the server stays up for this one.
        assert server.status() == info
        assert server.users() == [os.getpid()]
        with psycopg.connect(
            host=str(info.socket_dir), port=info.port, user="postgres", dbname="shelfwise"
        ) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        assert server.release() is True
    assert server.status() is None


def test_a_crashed_user_neither_pins_nor_breaks_the_server(embedded_pg_root):
    server = EmbeddedPostgres(embedded_pg_root)
    # A process that dies without releasing leaves the server running ...
    pid = _acquire_in_subprocess(server.root, "crash")
    assert server.status() is not None and server.status().pid == pid
    # ... and the next process reuses it, and is not kept from stopping it by the dead pid.
    assert server.acquire().pid == pid
    assert server.release() is True
    assert server.status() is None


def test_a_stale_pid_file_left_by_a_reboot_is_recovered(embedded_pg_root):
    server = EmbeddedPostgres(embedded_pg_root)
    first = server.acquire()
    pid_file = server.pgdata / "postmaster.pid"
    lines = pid_file.read_text().splitlines()
    assert server.release() is True
    # After a power cut the file survives but its pid belongs to no process.
    dead = subprocess.Popen(["true"])
    dead.wait()
    pid_file.write_text("\n".join([str(dead.pid), *lines[1:]]) + "\n")
    shutil.chown(pid_file, user=pid_file.parent.owner(), group=pid_file.parent.group())

    server._info = None  # what a new process would see
    second = server.acquire()
    assert second.pid not in (first.pid, dead.pid)
    assert server.release() is True
