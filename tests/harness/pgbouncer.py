"""PgBouncer (Debian's) with deploy/pgbouncer/pgbouncer.ini's pool settings, in front of
a PostgreSQL of the test's choosing: a real process, so ``pgbouncer`` is a slow fixture."""

from __future__ import annotations

import configparser
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
import pytest

from perf.process import free_port
from shelfwise.db.urls import current_database_url
from tests.harness import slow_fixture

PGBOUNCER = shutil.which("pgbouncer") or next(
    (p for p in ("/usr/sbin/pgbouncer",) if os.path.exists(p)), None
)
DEPLOY_INI = Path(__file__).resolve().parents[2] / "deploy" / "pgbouncer" / "pgbouncer.ini"


def database_target() -> tuple[str, str, str, str]:
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


@slow_fixture(scope="module")
def pgbouncer(django_db_setup) -> Iterator[tuple[int, str, str]]:
    """PgBouncer in front of this test run's database."""
    host, port, user, dbname = database_target()
    with running_pgbouncer(host, port, user, dbname) as listen:
        yield listen, user, dbname
