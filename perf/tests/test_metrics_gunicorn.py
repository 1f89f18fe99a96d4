"""/metrics under a real gunicorn with several workers aggregates every worker's samples."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from perf.loadtest.runner import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def test_metrics_count_requests_served_by_all_workers(tmp_path):
    port = free_port()
    env = dict(os.environ)
    env |= {
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "shelfwise.settings",
        # /health touches no database: a refused one keeps each worker's boot-time
        # connect (post_worker_init) instant, so all three workers take requests.
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
            "3",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                _get(f"{base}/api/v2/health")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        # Concurrent clients, so that several workers are busy at once.
        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(lambda _: _get(f"{base}/api/v2/health"), range(60)))
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
    assert float(match.group(1)) == 61  # the readiness poll plus 60, across workers
    assert len(pids) >= 2, "the requests should have spread over several workers"
