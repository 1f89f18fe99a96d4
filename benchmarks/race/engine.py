"""Race two HTTP servers over the same endpoints with wrk, in alternating rounds.

The caller hands over two contenders (a server command each, "{bind}" standing for the
address) and the endpoints; the race

1. starts both (each in its own process group, stopped in ``finally``: Ctrl-C leaves
   nothing running) and proves that they answer every endpoint with the same status and
   the same bytes, or refuses to race and shows a diff;
2. drives them in rounds: each round runs every endpoint on both, one after the other,
   the first contender first in odd rounds and second in even ones, so that a change of
   machine load hits both alike;
3. per run: req/s, p50 and p99 from wrk's latency distribution (``report.lua``), app CPU
   ms per request (CPU time of the server's master and workers, exited workers included,
   divided by the requests), PostgreSQL CPU ms per request (the same for the postmaster
   and its backends, when the caller names a local postmaster), and per endpoint and
   round the ratio of the first contender's req/s to the second's (``ratio``) and of the
   second's app CPU per request to the first's (``cpu_ratio``), with their medians.

CPU is read after the server has gone idle again (requests that wrk abandoned at the end
of a run finish or fail first), so it is charged to the contender that caused it. Nothing
here imports an application: it is a library.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from perf.process import ServerProcess, free_port

LUA_SCRIPT = Path(__file__).with_name("report.lua")
WRK_MARKER = "PERF_BENCH_JSON "
WRK_PACKAGE = "wrk"
# A server counts as idle again once it uses less than this share of one core.
IDLE_CPU_SHARE = 0.05
SETTLE_TIMEOUT_S = 15.0
PROOF_TIMEOUT_S = 120.0

Progress = Callable[[str], None]


class RaceError(RuntimeError):
    """The race cannot run or cannot be trusted (the message says why)."""


@dataclass(frozen=True)
class Endpoint:
    key: str  # what --endpoints names
    path: str  # path and query string
    label: str = ""


@dataclass(frozen=True)
class Contender:
    name: str
    argv: tuple[str, ...]  # "{bind}" is replaced by 127.0.0.1:<port>
    env: Mapping[str, str]
    health_path: str  # answered 200 once the server is up


@dataclass(frozen=True)
class RaceConfig:
    rounds: int = 3
    duration_s: float = 10.0
    connections: int = 8
    warmup_s: float = 1.0
    wrk_threads: int = 1
    request_timeout_s: float = 60.0
    headers: Mapping[str, str] = field(default_factory=dict)
    postgres_pid: int | None = None
    log_dir: Path | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RaceError(
            "wrk is not installed: the race drives the servers with it. "
            f"Install the Debian package `{WRK_PACKAGE}` (apt-get install -y {WRK_PACKAGE})."
        )
    return path


# --- CPU ---------------------------------------------------------------------------------


class CpuMeter:
    """CPU seconds of a process tree so far: the process itself, its live children, and
    the children it has already reaped (a recycled gunicorn worker, a closed backend)."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)

    def seconds(self) -> float:
        own = self.process.cpu_times()
        total = own.user + own.system + own.children_user + own.children_system
        for child in self.process.children():
            try:
                times = child.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return float(total)


def postmaster_of(backend_pid: int, database: str) -> int | None:
    """The local postmaster of a backend, or None when the backend is not on this machine.

    ``backend_pid`` is ``pg_backend_pid()`` of a connection of ours: when a local process
    of that pid is a postgres backend serving ``database`` (its title says so), its parent
    is the postmaster. A remote server's pid matches nothing here, or nothing like that.
    """
    try:
        backend = psutil.Process(backend_pid)
        title = " ".join(backend.cmdline())
        parent = backend.parent()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    if parent is None or not title.startswith("postgres:") or f" {database} " not in title:
        return None
    pid: int = parent.pid
    return pid


# --- HTTP ----------------------------------------------------------------------------------


def fetch(
    url: str, headers: Mapping[str, str], timeout_s: float = PROOF_TIMEOUT_S
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=dict(headers))  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def body_diff(first: bytes, second: bytes, names: tuple[str, str], max_lines: int = 40) -> str:
    """A unified diff of two bodies, one JSON object per line for readability."""

    def lines(body: bytes) -> list[str]:
        text = body.decode("utf-8", errors="replace")
        return text.replace("},{", "},\n{").replace(', "', ',\n"').splitlines()

    diff = list(difflib.unified_diff(lines(first), lines(second), *names, lineterm="", n=1))
    more = f"\n... {len(diff) - max_lines} more diff lines" if len(diff) > max_lines else ""
    return "\n".join(diff[:max_lines]) + more


def prove_identical(
    bases: Mapping[str, str], endpoints: Sequence[Endpoint], headers: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Every endpoint answers 200 with the same bytes on every server, or RaceError."""
    proof: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        answers = {name: fetch(base + endpoint.path, headers) for name, base in bases.items()}
        (first, (status, body)), *others = answers.items()
        for other, (other_status, other_body) in others:
            if (status, body) != (other_status, other_body):
                raise RaceError(
                    f"{endpoint.key} ({endpoint.path}): {first} and {other} differ "
                    f"(status {status} / {other_status}, {len(body)} / {len(other_body)} "
                    "bytes); refusing to race:\n" + body_diff(body, other_body, (first, other))
                )
        if status != 200:
            raise RaceError(f"{endpoint.key} ({endpoint.path}): status {status}, not 200")
        proof[endpoint.key] = {"path": endpoint.path, "status": status, "bytes": len(body)}
    return proof


# --- wrk ---------------------------------------------------------------------------------


def wrk_command(url: str, config: RaceConfig, duration_s: float) -> list[str]:
    cmd = [
        require_wrk(),
        "--threads", str(max(1, min(config.wrk_threads, config.connections))),
        "--connections", str(config.connections),
        "--duration", f"{max(1, round(duration_s))}s",
        "--timeout", f"{max(1, round(config.request_timeout_s))}s",
        "--script", str(LUA_SCRIPT),
    ]  # fmt: skip
    for name, value in config.headers.items():
        cmd += ["--header", f"{name}: {value}"]
    return [*cmd, url]


def parse_wrk(output: str) -> dict[str, Any]:
    for line in output.splitlines():
        if line.startswith(WRK_MARKER):
            data: dict[str, Any] = json.loads(line[len(WRK_MARKER) :])
            return data
    raise RaceError(f"wrk printed no {WRK_MARKER.strip()} line:\n{output[-2000:]}")


def run_wrk(url: str, config: RaceConfig, duration_s: float) -> dict[str, Any]:
    """One wrk run, bounded: killed (its process group) if it overruns by 60 s."""
    process = subprocess.Popen(  # noqa: S603 - our own argv
        wrk_command(url, config, duration_s),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=duration_s + 60)
    except BaseException:
        process.kill()
        process.wait()
        raise
    if process.returncode != 0:
        raise RaceError(f"wrk exited with status {process.returncode}:\n{output[-2000:]}")
    return parse_wrk(output)


def _settle(meter: CpuMeter) -> None:
    """Wait (bounded) until the server idles: work wrk left in flight is done."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    before = meter.seconds()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = meter.seconds()
        if now - before < 0.25 * IDLE_CPU_SHARE:
            return
        before = now


# --- The race ----------------------------------------------------------------------------


@dataclass
class _Running:
    contender: Contender
    server: ServerProcess
    base: str

    @property
    def meter(self) -> CpuMeter:
        assert self.server.process is not None
        return CpuMeter(self.server.process.pid)


def measure(
    running: _Running, endpoint: Endpoint, config: RaceConfig, duration_s: float
) -> dict[str, Any]:
    """One wrk run of one endpoint on one server, with its CPU cost."""
    app = running.meter
    pg = CpuMeter(config.postgres_pid) if config.postgres_pid else None
    app_before, pg_before = app.seconds(), pg.seconds() if pg else 0.0
    wrk = run_wrk(running.base + endpoint.path, config, duration_s)
    _settle(app)
    app_s, pg_s = app.seconds() - app_before, (pg.seconds() - pg_before) if pg else None
    requests = int(wrk["requests"])
    errors = sum(int(v) for v in wrk["errors"].values())
    seconds = wrk["duration_us"] / 1e6
    latency = wrk["latency_us"]
    per_request = (lambda s: round(s * 1000 / requests, 3)) if requests else (lambda s: None)
    return {
        "requests": requests,
        "errors": errors,
        "error_kinds": wrk["errors"],
        "seconds": round(seconds, 3),
        "rps": round(requests / seconds, 2) if seconds else 0.0,
        "p50_ms": round(latency["p50"] / 1000, 2),
        "p99_ms": round(latency["p99"] / 1000, 2),
        "app_cpu_ms": per_request(app_s),
        "pg_cpu_ms": per_request(pg_s) if pg_s is not None else None,
    }


METRICS = ("rps", "p50_ms", "p99_ms", "app_cpu_ms", "pg_cpu_ms")


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    return round(a["rps"] / b["rps"], 3) if b["rps"] else None


def cpu_ratio(round_: Mapping[str, Any], names: Sequence[str]) -> float | None:
    """The second contender's app CPU per request over the first's: like ``ratio``, the
    first one's speed relative to the second (lower: the first costs more)."""
    a, b = (round_[name]["app_cpu_ms"] for name in names)
    return round(b / a, 3) if a and b is not None else None


def summarize(rounds: list[dict[str, Any]], names: tuple[str, str]) -> dict[str, Any]:
    """Medians over rounds: each metric per contender, and the two ratios."""
    median: dict[str, Any] = {
        name: {m: _median([r[name][m] for r in rounds]) for m in METRICS} for name in names
    }
    median["ratio"] = _median([r["ratio"] for r in rounds])
    median["cpu_ratio"] = _median([cpu_ratio(r, names) for r in rounds])
    return median


def race(
    contenders: tuple[Contender, Contender],
    endpoints: Sequence[Endpoint],
    config: RaceConfig,
    progress: Progress = lambda message: None,
) -> dict[str, Any]:
    """Start both servers, prove their bodies identical, race; the JSON-ready result."""
    require_wrk()
    if config.rounds < 1 or config.duration_s < 1 or config.connections < 1:
        raise RaceError("rounds, duration (s) and connections must be at least 1")
    names = (contenders[0].name, contenders[1].name)
    servers: list[_Running] = []
    load_before = os.getloadavg()
    started = time.time()
    try:
        for contender in contenders:
            servers.append(_start(contender, config))
            progress(f"{contender.name}: serving on {servers[-1].base}")
        progress("Proving the bodies identical ...")
        bases = {s.contender.name: s.base for s in servers}
        proof = prove_identical(bases, endpoints, config.headers)
        progress(f"Bodies identical on {len(proof)} endpoint(s).")
        if config.warmup_s > 0:
            for endpoint in endpoints:
                for running in servers:
                    run_wrk(running.base + endpoint.path, config, config.warmup_s)
        results: dict[str, Any] = {
            e.key: {"path": e.path, "label": e.label or e.key, "rounds": []} for e in endpoints
        }
        for number in range(1, config.rounds + 1):
            order = servers if number % 2 else servers[::-1]
            for endpoint in endpoints:
                samples = {}
                for running in order:
                    sample = measure(running, endpoint, config, config.duration_s)
                    samples[running.contender.name] = sample
                    progress(
                        f"round {number}/{config.rounds} {endpoint.key:<10} "
                        f"{running.contender.name:<10} {sample['rps']:>9.1f} req/s  "
                        f"p99 {sample['p99_ms']:.1f} ms  app {sample['app_cpu_ms']} ms/req"
                    )
                entry = {
                    "round": number,
                    "order": [r.contender.name for r in order],
                    **samples,
                    "ratio": _ratio(samples[names[0]], samples[names[1]]),
                }
                entry["cpu_ratio"] = cpu_ratio(entry, names)
                results[endpoint.key]["rounds"].append(entry)
    finally:
        for running in reversed(servers):
            running.server.stop()
    for entry in results.values():
        entry["median"] = summarize(entry["rounds"], names)
    problems = [
        f"{key} {name} round {r['round']}: {r[name]['errors']} failed request(s) "
        f"{r[name]['error_kinds']}"
        for key, entry in results.items()
        for r in entry["rounds"]
        for name in names
        if r[name]["errors"]
    ]
    return {
        "meta": {
            **config.meta,
            "contenders": list(names),
            "ratio": f"{names[0]} / {names[1]} (req/s)",
            "cpu_ratio": f"{names[1]} / {names[0]} (app CPU ms per request)",
            "rounds": config.rounds,
            "duration_s": config.duration_s,
            "connections": config.connections,
            "wrk_threads": config.wrk_threads,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "wall_s": round(time.time() - started, 1),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "postgres_cpu": "postmaster and backends" if config.postgres_pid else None,
            "python": sys.version.split()[0],
        },
        "bodies": {"identical": True, "endpoints": proof},
        "endpoints": results,
        "problems": problems,
    }


def _start(contender: Contender, config: RaceConfig) -> _Running:
    port = free_port()
    bind = f"127.0.0.1:{port}"
    log = config.log_dir / f"{contender.name}.log" if config.log_dir else None
    server = ServerProcess(
        [arg.replace("{bind}", bind) for arg in contender.argv],
        env=contender.env,
        health_url=f"http://{bind}{contender.health_path}",
        log_path=log,
        new_session=True,
    )
    try:
        server.__enter__()
    except RuntimeError as exc:  # it exited or never answered its health check
        hint = f"; its output is in {log}" if log else ""
        raise RaceError(f"{contender.name} did not start: {exc}{hint}") from None
    return _Running(contender, server, f"http://{bind}")


# --- Output ------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def format_table(result: Mapping[str, Any]) -> str:
    a, b = result["meta"]["contenders"]
    head = (
        f"| endpoint | {a} req/s | {b} req/s | {a} / {b} per round | median | "
        f"p50 ms {a} / {b} | p99 ms {a} / {b} | app CPU ms/req {a} / {b} | "
        f"PostgreSQL CPU ms/req {a} / {b} | app CPU ratio |"
    )
    rows = [head, "|" + "---|" * 10]
    for entry in result["endpoints"].values():
        m = entry["median"]
        per_round = ", ".join(_fmt(r["ratio"], 2) for r in entry["rounds"])
        rows.append(
            f"| {entry['label']} | {_fmt(m[a]['rps'])} | {_fmt(m[b]['rps'])} | {per_round} | "
            f"**{_fmt(m['ratio'], 2)}** | {_fmt(m[a]['p50_ms'])} / {_fmt(m[b]['p50_ms'])} | "
            f"{_fmt(m[a]['p99_ms'])} / {_fmt(m[b]['p99_ms'])} | "
            f"{_fmt(m[a]['app_cpu_ms'], 2)} / {_fmt(m[b]['app_cpu_ms'], 2)} | "
            f"{_fmt(m[a]['pg_cpu_ms'], 2)} / {_fmt(m[b]['pg_cpu_ms'], 2)} | "
            f"{_fmt(_median([cpu_ratio(r, (a, b)) for r in entry['rounds']]), 3)} |"
        )
    return "\n".join(rows)


def save(result: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


def load(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RaceError(f"cannot read race result {path}: {exc}") from None
    if not isinstance(data, dict) or "endpoints" not in data or "meta" not in data:
        raise RaceError(f"{path} is not a race result (no meta / endpoints)")
    return data


__all__ = [
    "Contender",
    "Endpoint",
    "RaceConfig",
    "RaceError",
    "format_table",
    "load",
    "postmaster_of",
    "race",
    "require_wrk",
    "save",
]
