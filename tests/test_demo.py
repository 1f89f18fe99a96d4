"""`manage.py demo` end to end: a real gunicorn over real HTTP, on a fresh embedded server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from perf.process import free_port
from shelfwise.db.embedded.server import EmbeddedPostgres
from tests.harness.postgres import stop_immediately

ROOT = Path(__file__).resolve().parent.parent


def _get(url: str) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.status, json.loads(response.read())


# By hand: its own Popen (start_new_session, SIGINT to the group, as a terminal's Ctrl-C).
@pytest.mark.slow
def test_demo_migrates_seeds_serves_restarts_its_database_and_stops_on_ctrl_c(
    tmp_path, embedded_pg_root
):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {
        "SHELFWISE_PGDATA": str(embedded_pg_root),
        "DJANGO_SETTINGS_MODULE": "shelfwise.settings",
    }
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        demo = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "demo",
                "--port",
                str(port),
                "--workers",
                "2",
                "--scale",
                "0.01",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's foreground group, for its Ctrl-C
        )
    try:
        deadline = time.monotonic() + 120
        while "Press Ctrl-C to stop." not in log.read_text():
            assert demo.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        base = f"http://127.0.0.1:{port}"
        assert _get(f"{base}/api/v2/health") == (200, {"status": "ok"})
        assert _get(f"{base}/api/v2/ready") == (200, {"status": "ok", "database": "ok"})
        text = log.read_text()
        assert "Seeded 5 tenant(s), 656 books" in text
        for slug in ("corner-books", "atlas-distribution"):
            line = next(
                ln for ln in text.splitlines() if ln.strip().startswith(slug) and "sw_" in ln
            )
            assert line.split()[-1].startswith("sw_")
        assert f"{base}/api/docs/" in text and f"{base}/admin/" in text

        # The embedded PostgreSQL dies: demo starts it again and the API comes back.
        stop_immediately(EmbeddedPostgres(embedded_pg_root))
        deadline = time.monotonic() + 60
        while "Embedded PostgreSQL restarted." not in log.read_text():
            assert demo.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert "Embedded PostgreSQL stopped unexpectedly" in log.read_text()
        assert _get(f"{base}/api/v2/ready") == (200, {"status": "ok", "database": "ok"})
    finally:
        # Everything the demo started (gunicorn's master and workers, the embedded
        # server), then Ctrl-C as a terminal sends it: to the whole foreground group.
        started = psutil.Process(demo.pid).children(recursive=True)
        os.killpg(demo.pid, signal.SIGINT)
        demo.wait(timeout=60)
    text = log.read_text()
    assert demo.returncode == 0, text
    left = [p.pid for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert started and not left, f"processes the demo started outlived it: {left}\n{text}"
    assert "Embedded PostgreSQL stopped." in text
    assert EmbeddedPostgres(embedded_pg_root).status() is None
    with pytest.raises(OSError):
        _get(f"http://127.0.0.1:{port}/api/v2/health")


def test_demo_refuses_a_port_in_use_before_touching_anything(embedded_pg_root, child_process):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env |= {
            "SHELFWISE_PGDATA": str(embedded_pg_root),
            "DJANGO_SETTINGS_MODULE": "shelfwise.settings",
        }
        result = child_process(
            [sys.executable, "manage.py", "demo", "--port", str(port)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is already in use; choose another --port" in result.stderr
    assert not embedded_pg_root.exists()  # no database was started
