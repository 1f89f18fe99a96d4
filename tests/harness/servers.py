"""Servers and child processes started for one test: slow fixtures.

``server_process`` is for anything that serves a health URL (gunicorn with the project's
config, say: ``shelfwise.serving.gunicorn_command``); ``child_process`` for a one-shot
child (``python -c``, ``manage.py``, promtool). Both stop what they started at teardown."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from perf.process import ServerProcess
from tests.harness import slow_fixture

# The machine's Redis (the tests use it, they never start it); tests skip without it.
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def redis_up() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@slow_fixture
def server_process() -> Iterator[Callable[..., ServerProcess]]:
    """``server_process(argv, health_url=..., env=..., log_path=...)``: a
    ``perf.process.ServerProcess`` to enter (``with``: started and healthy inside,
    stopped on leaving). One the test left running is stopped at teardown."""
    made: list[ServerProcess] = []

    def make(argv: Sequence[str], **kwargs: Any) -> ServerProcess:
        server = ServerProcess(argv, **kwargs)
        made.append(server)
        return server

    try:
        yield make
    finally:
        for server in made:
            server.stop()


@slow_fixture
def child_process() -> Callable[..., subprocess.CompletedProcess[Any]]:
    """``subprocess.run`` for a test that runs a one-shot child (same arguments)."""
    return subprocess.run
