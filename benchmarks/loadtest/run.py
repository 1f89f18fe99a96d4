"""``manage.py loadtest``'s modes: measure a scenario (gunicorn started here unless
``--host``) and gate it, gate saved stats (``--from-stats``), write the load data for the
plain locust CLI (``--prepare-only``), revoke the load-test tokens (``--revoke-tokens``).
The command parses the arguments; ``run()`` picks the mode."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import CommandError

from benchmarks.loadtest import data as loadtest_data
from benchmarks.loadtest import gate, memory
from benchmarks.loadtest.policy import (
    REFERENCE,
    SOAK_MAX_MB_PER_HOUR,
    SOAK_WARMUP_SHARE,
    SOAK_WORKERS,
    gate_policy,
    query_budgets_for,
)
from benchmarks.loadtest.report import format_table
from benchmarks.loadtest.runner import LocustRun, Scenario
from benchmarks.loadtest.scenarios import ROOT, SCENARIOS, uses_onboarding
from benchmarks.loadtest.stats import RunStats, load_samples, median_run, summarize
from benchmarks.race.run import HANDICAP_APP, SHELFWISE_APP
from perf.conf import perf_settings
from perf.process import ServerProcess, free_port
from shelfwise.db.urls import current_database_url
from shelfwise.serving import gunicorn_command, health_url


def run(
    options: dict[str, Any], stdout: TextIO, stderr: TextIO, success: Callable[[str], str]
) -> None:
    """The mode the options name, on the scenario they describe."""
    load_test = LoadTest(stdout, stderr, success)
    scenario = scenario_from(options)
    if options["revoke_tokens"]:
        load_test.revoke_tokens()
    elif options["prepare_only"]:
        load_test.prepare_only(scenario, options["data_file"])
    elif options["from_stats"]:
        load_test.from_stats(options)
    else:
        load_test.measure_and_gate(scenario, options)


def scenario_from(options: dict[str, Any]) -> Scenario:
    """The named scenario with the options' overrides, checked."""
    try:
        scenario = SCENARIOS[options["scenario"]].with_overrides(
            users=options["users"],
            spawn_rate=options["spawn_rate"],
            run_time=options["run_time"],
            warmup_s=options["warmup"],
            rounds=options["rounds"],
        )
        scenario.run_time_s  # noqa: B018 - validates --run-time
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if scenario.users < 1 or scenario.spawn_rate <= 0 or scenario.rounds < 1:
        raise CommandError("--users, --spawn-rate and --rounds must be positive")
    if scenario.memory and options["host"]:
        raise CommandError("a soak samples the workers of a server it starts: no --host")
    if options["sample_interval"] <= 0:
        raise CommandError("--sample-interval must be positive")
    return scenario


class LoadTest:
    def __init__(self, stdout: TextIO, stderr: TextIO, success: Callable[[str], str]) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.success = success
        self._memory: memory.MemoryReport | None = None

    def revoke_tokens(self) -> None:
        n = loadtest_data.revoke_all()
        self.stdout.write(f"Revoked {n} load-test token(s).")

    def from_stats(self, options: dict[str, Any]) -> None:
        given = options["from_stats"]  # call_command may pass one path, not a list
        runs = [_load_stats(Path(p)) for p in ([given] if isinstance(given, str | Path) else given)]
        try:
            stats = runs[0] if len(runs) == 1 else median_run(runs)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(format_table(stats))
        if options["save_baseline"]:
            stats.save(options["save_baseline"])
            self.stdout.write(f"Baseline written to {options['save_baseline']}")
        baseline = _load_stats(options["baseline"]) if options["baseline"] else None
        self._report(self._check(stats, options, baseline), with_baseline=bool(baseline))

    def measure_and_gate(self, scenario: Scenario, options: dict[str, Any]) -> None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        out: Path = options["out"] or ROOT / "reports" / "loadtest" / f"{stamp}-{scenario.name}"
        baseline = _load_stats(options["baseline"]) if options["baseline"] else None
        attempts = options["attempts"] or (3 if baseline else 1)
        # Endpoints whose p99 failed the gate in every attempt so far.
        slow: set[str] | None = None
        for attempt in range(1, attempts + 1):
            folder = out if attempt == 1 else out / f"attempt-{attempt}"
            stats = self._measure(scenario, options, folder, stamp)
            result = self._check(stats, options, baseline)
            if self._memory is not None:
                result.problems.extend(self._memory.problems)
                result.notes.extend(self._memory.notes)
            slow = set(result.latency) if slow is None else slow & set(result.latency)
            if result.problems or not slow or attempt == attempts:
                break
            self.stdout.write(
                f"p99 over the gate for {', '.join(sorted(slow))}: noise or a regression? "
                f"Measuring again (attempt {attempt + 1} of {attempts}).\n"
            )
        result.latency = {
            name: f"{message} (in {attempt} of {attempt} attempts)"
            for name, message in result.latency.items()
            if name in (slow or set())
        }
        if options["save_baseline"]:
            stats.save(options["save_baseline"])
            self.stdout.write(f"Baseline written to {options['save_baseline']}")
        self._report(result, with_baseline=baseline is not None)

    def _measure(
        self, scenario: Scenario, options: dict[str, Any], out: Path, stamp: str
    ) -> RunStats:
        out.mkdir(parents=True, exist_ok=True)
        self.stdout.write(
            f"Scenario {scenario.name} ({scenario.description}): {scenario.users} users, "
            f"spawn {scenario.spawn_rate:g}/s, {scenario.run_time}; reports in {out}"
        )
        prepared = loadtest_data.prepare(onboarding=uses_onboarding(scenario))
        data_path = out / "load_data.json"
        data_path.write_text(json.dumps(prepared.data, indent=2))
        data_path.chmod(0o600)  # live tokens until the run ends
        tenants = prepared.data["tenants"]
        self.stdout.write(
            "Load data: "
            + ", ".join(f"{t['slug']} ({t['books']:,} books, w {t['weight']:g})" for t in tenants)
        )
        try:
            exit_code = self._run(scenario, options, out, data_path)
        finally:
            loadtest_data.revoke(prepared.token_ids)
        if exit_code != 0:
            raise CommandError(f"locust exited with status {exit_code}; see {out / 'locust.log'}")

        stats = summarize(
            load_samples(out / "samples.json"),
            scenario=scenario.name,
            users=scenario.users,
            spawn_rate=scenario.spawn_rate,
            run_time_s=scenario.run_time_s,
            warmup_s=scenario.effective_warmup_s,
            rounds=scenario.rounds,
            meta={"host": options["host"] or "gunicorn (started here)", "started_at": stamp,
                  "processes": options["processes"], "workers": options["workers"],
                  "handicap": options["handicap"], "machine": _machine()},
            reference=REFERENCE,
        )  # fmt: skip
        stats.save(out / "stats.json")
        self.stdout.write("")
        self.stdout.write(format_table(stats))
        if scenario.memory:
            self._memory = self._memory_verdict(scenario, options, out)
        self.stdout.write(f"\nReports: {out / 'stats.json'}, {out / 'report.html'}")
        return stats

    def _memory_verdict(
        self, scenario: Scenario, options: dict[str, Any], out: Path
    ) -> memory.MemoryReport:
        samples = memory.load_samples(out / "memory_samples.json")
        warmup = options["warmup"]
        if warmup is None:
            warmup = scenario.run_time_s * SOAK_WARMUP_SHARE
        per_10k, per_hour = options["max_mb_per_10k"], options["max_mb_per_hour"]
        if per_10k is None and per_hour is None:
            per_hour = SOAK_MAX_MB_PER_HOUR
        report = memory.verdict(
            memory.analyze(
                samples,
                warmup_s=warmup,
                warmup_requests=options["warmup_requests"],
                min_requests=options["min_fit_requests"],
                interval_s=options["sample_interval"],
            ),
            max_mb_per_10k=per_10k,
            max_mb_per_hour=per_hour,
        )
        (out / "memory.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
        self.stdout.write("\n" + memory.format_memory(report))
        return report

    def _run(self, scenario: Scenario, options: dict[str, Any], out: Path, data_path: Path) -> int:
        run_args = {
            "scenario": scenario,
            "out_dir": out,
            "processes": options["processes"],
            "env": {loadtest_data.DATA_ENV: str(data_path)},
            "python_path": (ROOT,),
        }
        if options["host"]:
            return LocustRun(host=options["host"].rstrip("/"), **run_args).run()
        port = free_port()
        host = f"http://127.0.0.1:{port}"
        workers = options["workers"]
        if not scenario.memory:
            with self._server(port, workers, out, _handicapped_app(options["handicap"])):
                self.stdout.write(f"Server: gunicorn on {host} (log: {out / 'server.log'})")
                self.stdout.flush()
                return LocustRun(host=host, **run_args).run()
        # Each worker's requests are read from its own prometheus_client counter file: a
        # folder of this run's, removed afterwards.
        metrics_dir = Path(tempfile.mkdtemp(prefix="shelfwise-soak-prom-"))
        try:
            server = self._server(port, workers or SOAK_WORKERS, out, metrics_dir=metrics_dir)
            with server:
                self.stdout.write(f"Server: gunicorn on {host} (log: {out / 'server.log'})")
                self.stdout.flush()
                assert server.process is not None
                counts = memory.prometheus_request_counts(
                    metrics_dir, f"{perf_settings().METRICS_PREFIX}_http_responses_total"
                )
                sampler = memory.MemorySampler(
                    server.process.pid, counts, interval_s=options["sample_interval"]
                )
                try:
                    with sampler:
                        exit_code = LocustRun(host=host, **run_args).run()
                finally:
                    memory.save_samples(sampler.samples, out / "memory_samples.json")
                return exit_code
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)

    def _server(
        self,
        port: int,
        workers: int | None,
        out: Path,
        app: str | None = None,
        metrics_dir: Path | None = None,
    ) -> ServerProcess:
        argv, env = gunicorn_command(
            bind=f"127.0.0.1:{port}",
            workers=workers,
            app=app,
            database_url=current_database_url(),
            # Measure the app, not the debug machinery (DEBUG keeps every query in memory);
            # the profile (and so X-Query-Count and N+1 detection) stays as configured.
            env_defaults={"DJANGO_DEBUG": "0", "GUNICORN_LOG_LEVEL": "warning"},
            env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)} if metrics_dir else None,
        )
        if metrics_dir is not None:
            # A soak keeps each worker for the whole run: recycling after max_requests
            # (gunicorn.conf.py) is what hides a leak in production, not what finds it.
            argv += ["--max-requests", "0"]
        return ServerProcess(
            argv, env=env, health_url=health_url(port), log_path=out / "server.log"
        )

    def _check(
        self, stats: RunStats, options: dict[str, Any], baseline: RunStats | None
    ) -> gate.GateResult:
        result = gate.check_failures(stats)
        budgets = gate.check_budgets(stats, query_budgets_for(stats.endpoints))
        scenario = SCENARIOS.get(stats.scenario)
        if scenario is not None and scenario.memory:
            # The soak's writes send the smallest valid bodies (no genres; a PATCH of the
            # stock alone) and its export's queries run after the header is sent, so they
            # run fewer queries than the budgets' full requests: reported, not gated. The
            # other scenarios gate the budgets; the soak gates failures and memory.
            budgets.notes.extend(f"{p} (soak: not gated)" for p in budgets.problems)
            budgets.problems = []
        result.extend(budgets)
        if baseline is not None:
            result.extend(gate.compare(stats, baseline, gate_policy(baseline, options)))
        return result

    def _report(self, result: gate.GateResult, *, with_baseline: bool) -> None:
        for note in result.notes:
            self.stdout.write(f"  note: {note}")
        for message in result.messages():
            self.stderr.write(f"  {message}")
        if not result.passed:
            raise CommandError(f"load test gate failed: {len(result.messages())} problem(s)")
        checked = "failures, query budgets" + (", baseline" if with_baseline else "")
        self.stdout.write(self.success(f"Gate passed ({checked})."))

    def prepare_only(self, scenario: Scenario, data_file: Path | None) -> None:
        if data_file is None:
            raise CommandError("--prepare-only needs --data-file FILE")
        prepared = loadtest_data.prepare(onboarding=uses_onboarding(scenario))
        data_file.parent.mkdir(parents=True, exist_ok=True)
        data_file.write_text(json.dumps(prepared.data, indent=2))
        data_file.chmod(0o600)
        files = ",".join(str(p.relative_to(ROOT)) for p in scenario.locustfiles)
        self.stdout.write(
            f"Load data written to {data_file}; its tokens stay valid until "
            "`manage.py loadtest --revoke-tokens`."
        )
        self.stdout.write(
            f"  {loadtest_data.DATA_ENV}={data_file} .venv/bin/locust -f {files} "
            "--host http://127.0.0.1:8000"
        )


def _machine() -> dict[str, Any]:
    """Where a run was measured: a baseline's numbers mean little without it."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
        "platform": platform.platform(),
    }


def _handicapped_app(spec: str | None) -> str | None:
    """ShelfWise's WSGI app as gunicorn names it, slowed on one path, or None."""
    if not spec:
        return None
    path, _, factor = spec.rpartition("=")
    try:
        value = float(factor)
    except ValueError:
        value = 0.0
    if not path.startswith("/") or "?" in path or value < 1:
        raise CommandError(
            f"--handicap {spec!r}: expected PATH=FACTOR, e.g. /api/v2/books=2 (FACTOR >= 1)"
        )
    return f"{HANDICAP_APP}({SHELFWISE_APP!r}, {value!r}, {path!r})"


def _load_stats(path: Path) -> RunStats:
    try:
        return RunStats.load(path)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise CommandError(f"cannot read stats {path}: {exc}") from None
