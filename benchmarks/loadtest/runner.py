"""Running locust (one process or master + workers); the server under test is
``perf.process.ServerProcess``.

Every process started here binds 127.0.0.1 only and is bounded in time: locust by its
``--run-time`` plus a grace period, after which it is killed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.loadtest.protocol import PROGRESS_ENV, SAMPLES_ENV
from perf.process import kill_group

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
                kill_group(process)
                raise RuntimeError(f"locust did not finish within {timeout:.0f} s") from None
            except BaseException:
                kill_group(process)
                raise
