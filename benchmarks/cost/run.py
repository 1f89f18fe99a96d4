"""``manage.py bench --cost``: the measurement, the baseline it saves and the gate.

The parent (this process) creates a dedicated database on the server it uses, runs the
``native`` child against it, then the ``measure`` child under callgrind, reads the dumps,
and drops the database. Children run with ``PYTHONHASHSEED=0``, the dev profile with
``DEBUG`` off (DEBUG keeps every query in memory; prod would want collected static files
for the admin) and a throttle rate no run reaches.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import orjson
import psutil
from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import connection

from benchmarks.cost import callgrind, gate
from shelfwise.db.urls import current_database_url

# Functions kept per endpoint (C and Python, below WRAPPERS of the request): the report
# shows the ten first Python ones, the gate diffs them all.
TOP = 60
WRAPPERS = 0.95
# The measuring harness's own frames, active around every request: not the request's work.
HARNESS = ("_call (benchmarks/", "main (benchmarks/", "measure (benchmarks/", "<module> (")
CACHE = Path(tempfile.gettempdir()) / "shelfwise-bench-cost"
TIMEOUT_S = 900

Progress = Callable[[str], None]


def add_arguments(parser: CommandParser) -> None:
    """--cost shares --baseline and --save-baseline with --race (benchmarks.race.run)."""
    group = parser.add_argument_group("--cost")
    group.add_argument(
        "--reason", help="why a figure of the saved cost baseline goes up (needed to raise one)"
    )


def child_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PROMETHEUS_"))}
    env.update(
        PYTHONHASHSEED="0",
        PYTHONPATH=str(settings.BASE_DIR),
        DJANGO_SETTINGS_MODULE="shelfwise.settings",
        SHELFWISE_ENV="dev",
        DJANGO_DEBUG="0",
        SILK_ENABLED="0",
        DATABASE_URL=database_url,
        API_THROTTLE_RATE="100000000/min",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(  # noqa: S603 - our own argv
        argv,
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise CommandError(f"{what} failed ({done.returncode}):\n{done.stderr[-4000:]}")


def measure(progress: Progress) -> dict[str, Any]:
    """Every endpoint's figures, on a database made for the run and dropped after."""
    if problem := callgrind.missing_tools():
        raise CommandError(problem)
    helper = callgrind.helper_library(CACHE)
    name = f"shelfwise_cost_{os.getpid()}"
    url = urlsplit(current_database_url())
    database_url = urlunsplit(url._replace(path=f"/{name}"))
    env = child_env(database_url)
    with connection._nodb_cursor() as cursor:
        _drop_left_over(cursor)
        cursor.execute(f'CREATE DATABASE "{name}"')
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-cost-") as scratch:
            work = Path(scratch)
            plan = work / "plan.json"
            child = [sys.executable, "-m", "benchmarks.cost.child"]
            progress(f"Native: migrate {name}, seed, replay and explain each request")
            _run([*child, "native", str(plan)], env, "the native replay")
            progress("Callgrind: warm up uninstrumented, then count each request")
            out = work / "callgrind.out"
            _run(
                [
                    "valgrind",
                    "--tool=callgrind",
                    "--instr-atstart=no",
                    "--collect-atstart=no",
                    "--dump-instr=no",
                    "--compress-strings=yes",
                    f"--callgrind-out-file={out}",
                    *child,
                    "measure",
                    str(plan),
                    str(helper),
                ],
                env,
                "the callgrind run",
            )
            result = _read(work, out, orjson.loads(plan.read_bytes()))
    finally:
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result["meta"] = {"seconds": round(time.monotonic() - started, 1)}
    # Buffers and plans are the server's: a baseline holds them for one major version.
    result["postgres"] = connection.pg_version // 10000
    return result


def _drop_left_over(cursor: Any) -> None:
    """Drop the databases of cost runs that died before dropping theirs (named by pid)."""
    cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE 'shelfwise_cost_%%'")
    for (name,) in cursor.fetchall():
        pid = name.removeprefix("shelfwise_cost_")
        if pid.isdigit() and (int(pid) == os.getpid() or not psutil.pid_exists(int(pid))):
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _read(work: Path, out: Path, plan: dict[str, Any]) -> dict[str, Any]:
    dumps = sorted(work.glob("callgrind.out.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
    pid = _pid_of(out, dumps)
    perf_map = Path(f"/tmp/perf-{pid}.map")  # noqa: S108 - where CPython writes it
    try:
        names = callgrind.perf_map(perf_map, settings.BASE_DIR)
    finally:
        perf_map.unlink(missing_ok=True)
    requests = plan["requests"]
    if len(dumps) < len(requests):
        raise CommandError(f"callgrind wrote {len(dumps)} dumps for {len(requests)} requests")
    endpoints: dict[str, Any] = {}
    # One dump per measured request, in order; a last one (the exit) is left out.
    for request, dump in zip(requests, dumps, strict=False):
        profile = callgrind.parse(dump, names)
        key = request["key"]
        endpoints[key] = {
            "label": request["label"],
            "instructions": profile.total,
            **plan["database"][key],
            "functions": dict(profile.top(TOP, HARNESS, WRAPPERS)),
        }
    return {"endpoints": endpoints}


def _pid_of(out: Path, dumps: list[Path]) -> int:
    for dump in dumps:
        with dump.open() as lines:
            for line in lines:
                if line.startswith("pid:"):
                    return int(line.split()[1])
    raise CommandError(f"no callgrind dump beside {out}")


def run(options: dict[str, Any], stdout: TextIO, stderr: TextIO) -> None:
    def progress(message: str) -> None:
        if not options.get("no_progress"):
            stderr.write(message + "\n")

    result = measure(progress)
    stdout.write(gate.format_table(result) + "\n")
    if options.get("json"):
        options["json"].write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    if save := options.get("save_baseline"):
        old = gate.load(save) if save.exists() else None
        try:
            baseline = gate.new_baseline(result, old, options.get("reason"))
        except gate.RaiseWithoutReason as refused:
            raise CommandError(str(refused)) from None
        gate.save(baseline, save)
        stdout.write(f"Baseline saved: {save}\n")
    if path := options.get("baseline"):
        verdict = gate.compare(result, gate.load(path), path)
        stdout.write(verdict.report() + "\n")
        if not verdict.passed:
            raise CommandError(f"the cost gate failed against {path}")
