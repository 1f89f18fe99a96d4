"""A server process for a run (gunicorn, say): started on a free loopback port, healthy
before it is used, stopped after it even on errors, with whatever it forked.

The load test, the race, the demo and the tests' real-process harnesses all start their
servers through here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """A server started for the run (gunicorn, say) and stopped after it, even on errors."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        health_url: str,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        inherit_output: bool = False,
        start_timeout_s: float = 60,
        new_session: bool = False,
    ) -> None:
        self.argv = list(argv)
        self.env = dict(env) if env is not None else dict(os.environ)
        self.health_url = health_url
        self.log_path = log_path
        self.inherit_output = inherit_output  # the terminal's output (no log_path)
        self.start_timeout_s = start_timeout_s
        # Its own session (process group): Ctrl-C reaches only us, and stop() ends the
        # whole group (gunicorn's workers too), whatever state the master is in.
        self.new_session = new_session
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        log: Any = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        if self.inherit_output and not self.log_path:
            log = None
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our own argv
                self.argv,
                env=self.env,
                stdout=log,
                stderr=None if log is None else subprocess.STDOUT,
                start_new_session=self.new_session,
            )
        finally:
            if self.log_path:
                log.close()
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with status {self.process.returncode}"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            try:
                with urllib.request.urlopen(self.health_url, timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.health_url} did not answer within {self.start_timeout_s:.0f} s")

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if self.new_session:
            # The master alone first: it stops its workers once. A gthread worker signalled
            # by both (a group signal, then its master's) can take the second inside its
            # first shutdown and hang there, outliving the master (seen with the demo's
            # Ctrl-C). Whatever of the group is left then goes with it.
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=20)
            kill_group(process)
            return
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session and what it forked, nothing else.

    SIGTERM to the group, then SIGKILL to whatever of the group is left (a worker that
    outlived its master included)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        process.wait()
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
