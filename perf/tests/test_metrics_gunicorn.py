"""/metrics under a real gunicorn aggregates the samples of every worker process.

Deterministic on a busy machine: one worker at a time serves a batch of requests and is
then stopped, so the master starts a new one for the next batch. Three processes have
served requests whatever the scheduler does, and the total must still count them all.
(Hoping that concurrent clients spread over live workers failed on a loaded machine.)
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from perf.process import free_port

ROOT = Path(__file__).resolve().parents[2]
# Marked by hand, its own Popen: the count asserts one served readiness request, and
# server_process's 2 s health polls could time out on one still queued and send another.
pytestmark = pytest.mark.slow


GENERATIONS = 3
BATCH = 10


def _get(url: str) -> str:
    # Generous: a replaced worker boots Django again, slowly on a busy machine.
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read().decode()


def _histogram_pids(folder: Path) -> set[int]:
    return {int(p.stem.removeprefix("histogram_")) for p in folder.glob("histogram_*.db")}


def test_metrics_count_requests_served_by_all_workers(tmp_path):
    prom_dir = tmp_path / "prom"
    prom_dir.mkdir()
    port = free_port()
    env = dict(os.environ)
    env |= {
        "PROMETHEUS_MULTIPROC_DIR": str(prom_dir),
        "DJANGO_SETTINGS_MODULE": "shelfwise.settings",
        # /health touches no database: a refused one keeps each worker's boot-time
        # connect (post_worker_init) instant.
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none",
    }
    argv = [
        sys.executable, "-m", "gunicorn", "--config", "shelfwise/serving/gunicorn.conf.py",
        "--bind", f"127.0.0.1:{port}", "--workers", "1",
    ]  # fmt: skip
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    served_by: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                _get(f"{base}/api/v2/health")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        for _ in range(GENERATIONS):
            for _ in range(BATCH):
                _get(f"{base}/api/v2/health")
            # The one live worker served this batch; stop it, and the master starts
            # another for the next batch (requests wait in the listen queue meanwhile).
            (worker,) = _histogram_pids(prom_dir) - set(served_by)
            served_by.append(worker)
            os.kill(worker, signal.SIGTERM)
            psutil.Process(worker).wait(timeout=60)
        body = _get(f"{base}/metrics")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    match = re.search(
        r'shelfwise_http_request_queries_count\{method="GET",route="/api/v2/health"\} (\S+)',
        body,
    )
    assert match, body[:2000]
    assert len(served_by) == GENERATIONS
    # Every request of the three exited workers is counted (plus the readiness poll).
    assert float(match.group(1)) == 1 + GENERATIONS * BATCH, (tmp_path / "gunicorn.log").read_text()
    # The app CPU histogram too: one observation per request, whichever worker served it.
    cpu = re.search(
        r"shelfwise_http_request_app_cpu_seconds_count"
        r'\{method="GET",route="/api/v2/health"\} (\S+)',
        body,
    )
    assert cpu and float(cpu.group(1)) == 1 + GENERATIONS * BATCH, body[:2000]
