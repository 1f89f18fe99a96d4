"""/metrics under a real gunicorn aggregates the samples of every worker process.

Deterministic on a busy machine: each worker exits after ``MAX_REQUESTS`` requests
(gunicorn's ``--max-requests``, no jitter), so 41 requests are served by at least
three worker processes whatever the scheduler does, and the total must still be 41.
(Hoping that concurrent clients spread over live workers failed on a loaded machine.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from perf.loadtest.runner import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


MAX_REQUESTS = 20
REQUESTS = 40


def _get(url: str) -> str:
    # Generous: a worker that just exited is replaced by a fresh one, which on a busy
    # machine takes a few seconds to import Django while the other worker serves.
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read().decode()


def test_metrics_count_requests_served_by_all_workers(tmp_path):
    port = free_port()
    env = dict(os.environ)
    env |= {
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "shelfwise.settings",
        # /health touches no database: a refused one keeps each worker's boot-time
        # connect (post_worker_init) instant.
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            "shelfwise/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--max-requests",
            str(MAX_REQUESTS),
            "--max-requests-jitter",
            "0",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                _get(f"{base}/api/v2/health")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        for _ in range(REQUESTS):
            _get(f"{base}/api/v2/health")
        pids = {p.name for p in tmp_path.glob("histogram_*.db")}
        body = _get(f"{base}/metrics")
    finally:
        server.terminate()
        server.wait(timeout=30)
    match = re.search(
        r'shelfwise_http_request_queries_count\{method="GET",route="/api/v2/health"\} (\S+)',
        body,
    )
    assert match, body[:2000]
    served = REQUESTS + 1  # the readiness poll plus the loop
    # Every process wrote its own file; the exited ones' samples are still aggregated.
    assert len(pids) >= -(-served // MAX_REQUESTS), sorted(pids)
    assert float(match.group(1)) == served, body[:2000]
