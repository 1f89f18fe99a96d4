"""Running locust (one process or master + workers) and the server under test.

Every process started here binds 127.0.0.1 only and is bounded in time: locust by its
``--run-time`` plus a grace period, after which it is killed; the server by the caller's
``with`` block.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from perf.loadtest.protocol import PROGRESS_ENV, SAMPLES_ENV

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")
# After --run-time: spawning stops, users stop, reports are written (HTML, stats).
LOCUST_GRACE_S = 90


def parse_duration(text: str) -> float:
    """Seconds in locust's --run-time format: "90", "30s", "5m", "1h30m"."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m or 1h30m")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError(f"{text!r}: a run must last at least one second")
    return float(total)


@dataclass(frozen=True)
class Scenario:
    name: str
    users: int
    spawn_rate: float
    run_time: str
    locustfiles: tuple[Path, ...]
    description: str = ""
    rounds: int = 5
    # Seconds dropped from the start; None: the ramp-up plus 5 s, at most a third of the run.
    warmup_s: float | None = None
    # A soak: sample the server's workers' memory through the run (``memory``).
    memory: bool = False

    @property
    def run_time_s(self) -> float:
        return parse_duration(self.run_time)

    @property
    def effective_warmup_s(self) -> float:
        if self.warmup_s is not None:
            return self.warmup_s
        ramp = math.ceil(self.users / self.spawn_rate) if self.spawn_rate > 0 else 0
        return float(min(ramp + 5, math.floor(self.run_time_s / 3)))

    def with_overrides(self, **changes: object) -> Scenario:
        given = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **given)  # type: ignore[arg-type]


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
            _kill_group(process)
            return
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class LocustRun:
    scenario: Scenario
    host: str
    out_dir: Path
    processes: int = 0
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    progress_interval_s: float = 5
    python_path: Sequence[Path] = ()

    @property
    def samples_path(self) -> Path:
        return self.out_dir / "samples.json"

    @property
    def html_path(self) -> Path:
        return self.out_dir / "report.html"

    def command(self) -> list[str]:
        s = self.scenario
        cmd = [
            sys.executable, "-m", "locust",
            "--locustfile", ",".join(str(p) for p in s.locustfiles),
            "--headless",
            "--users", str(s.users),
            "--spawn-rate", f"{s.spawn_rate:g}",
            "--run-time", f"{s.run_time_s:.0f}s",
            "--host", self.host,
            "--html", str(self.html_path),
            "--csv", str(self.out_dir / "locust"),
            "--json-file", str(self.out_dir / "locust_stats"),
            "--only-summary",
            "--loglevel", "WARNING",
            "--stop-timeout", "5",
            "--exit-code-on-error", "0",  # failures are judged by the gate, not by locust
        ]  # fmt: skip
        if self.processes > 0:
            # locust forks a master and N workers; bind the master to loopback only.
            cmd += ["--processes", str(self.processes), "--master-bind-host", "127.0.0.1"]
        return cmd

    def run(self) -> int:
        """Run locust to completion; its summary goes to locust.log, progress to stderr."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ) | dict(self.env)
        env[SAMPLES_ENV] = str(self.samples_path)
        env[PROGRESS_ENV] = f"{self.progress_interval_s:g}"
        if self.python_path:
            env["PYTHONPATH"] = os.pathsep.join(
                [*(str(p) for p in self.python_path), env.get("PYTHONPATH", "")]
            ).rstrip(os.pathsep)
        timeout = self.scenario.run_time_s + LOCUST_GRACE_S
        with (self.out_dir / "locust.log").open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - our own argv
                self.command(), env=env, stdout=log, start_new_session=True
            )
            try:
                return process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                raise RuntimeError(f"locust did not finish within {timeout:.0f} s") from None
            except BaseException:
                _kill_group(process)
                raise


def _kill_group(process: subprocess.Popen[bytes]) -> None:
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
