"""Locust side: record every request, unrounded, with its query count.

Locust keeps response times in rounded buckets (to 10 ms above 100 ms, 100 ms above
1 s), so its own p99 cannot carry a 20% gate. A locustfile calls ``install()`` once; then
every request event appends ``(start, ms, queries, ok, app_cpu_ms)`` under
``"<METHOD> <name>"``, where ``queries`` is the response's ``X-Query-Count`` and
``app_cpu_ms`` its ``X-App-CPU-Ms`` (each ``None`` without the header). In distributed
mode the workers ship their samples to the master with their regular stats reports, and
the master (or the single local process) writes them all to ``$LOADTEST_SAMPLES`` when
locust quits. ``$LOADTEST_PROGRESS`` (seconds) prints one progress line per interval.

Imports locust and the standard library only; no Django.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from benchmarks.loadtest.protocol import (
    PROGRESS_ENV,
    SAMPLES_ENV,
    SAMPLES_VERSION,
    response_figures,
)

_REPORT_KEY = "perf_samples"

Sample = tuple[float, float, int | None, int, float | None]


def endpoint_key(request_type: str, name: str) -> str:
    return f"{request_type} {name}"


class SampleRecorder:
    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.samples: dict[str, list[Sample]] = defaultdict(list)
        self.started: float | None = None
        self.stopped: float | None = None
        self._progress: gevent.Greenlet | None = None

    # -- every process that runs users ----------------------------------------------------

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response: Any = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        **_: Any,
    ) -> None:
        headers = getattr(response, "headers", None)
        queries, cpu_ms = response_figures(headers) if headers is not None else (None, None)
        start = start_time if start_time is not None else time.time() - response_time / 1000
        self.samples[endpoint_key(request_type, name)].append(
            (
                round(start, 4),
                round(float(response_time), 4),
                queries,
                0 if exception else 1,
                cpu_ms,
            )
        )

    # -- distributed mode -----------------------------------------------------------------

    def on_report_to_master(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        data[_REPORT_KEY] = dict(self.samples)
        self.samples = defaultdict(list)

    def on_worker_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        for key, rows in (data.get(_REPORT_KEY) or {}).items():
            self.samples[key].extend(tuple(row) for row in rows)

    # -- the master, or the only process --------------------------------------------------

    def on_test_start(self, **_: Any) -> None:
        self.started = time.time()
        interval = float(os.environ.get(PROGRESS_ENV) or 0)
        if interval > 0:
            self._progress = gevent.spawn(self._print_progress, interval)

    def on_test_stop(self, **_: Any) -> None:
        self.stopped = time.time()
        if self._progress is not None:
            self._progress.kill(block=False)
            self._progress = None

    def on_quit(self, **_: Any) -> None:
        path = os.environ.get(SAMPLES_ENV)
        if path:
            self.write(Path(path))

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "version": SAMPLES_VERSION,
            "started": self.started,
            "stopped": self.stopped or time.time(),
            # By start time only: a None beside a number must never be compared.
            "endpoints": {
                key: sorted(rows, key=lambda row: row[0])
                for key, rows in sorted(self.samples.items())
            },
        }
        path.write_text(json.dumps(payload, separators=(",", ":")))

    def _print_progress(self, interval: float) -> None:
        runner = self.environment.runner
        options = self.environment.parsed_options
        run_time = getattr(options, "run_time", None)
        total_text = f"/{run_time}s" if run_time else "s"
        while True:
            gevent.sleep(interval)
            if runner is None or self.started is None:
                continue
            total = runner.stats.total
            p95 = total.get_current_response_time_percentile(0.95) or 0
            sys.stderr.write(
                f"  [{time.time() - self.started:>5.0f}{total_text}] users {runner.user_count:>4}"
                f"  requests {total.num_requests:>8,}  failures {total.num_failures:>5,}"
                f"  rps {total.current_rps:>7.1f}  p95 (last 10 s) {p95:>6.0f} ms\n"
            )
            sys.stderr.flush()


_installed = False


def install() -> None:
    """Record this locust run's samples; safe to call from several locustfiles."""
    global _installed
    if _installed:
        return
    _installed = True
    events.init.add_listener(_on_init)


def _on_init(environment: Environment, **_: Any) -> None:
    recorder = SampleRecorder(environment)
    runner = environment.runner
    hooks = environment.events
    if not isinstance(runner, MasterRunner):
        hooks.request.add_listener(recorder.on_request)
    if isinstance(runner, WorkerRunner):
        hooks.report_to_master.add_listener(recorder.on_report_to_master)
        return
    if isinstance(runner, MasterRunner):
        hooks.worker_report.add_listener(recorder.on_worker_report)
    hooks.test_start.add_listener(recorder.on_test_start)
    hooks.test_stop.add_listener(recorder.on_test_stop)
    # `quit` fires after the master has waited for the workers' final reports.
    hooks.quit.add_listener(recorder.on_quit)
