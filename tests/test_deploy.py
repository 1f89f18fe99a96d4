"""deploy/: the topology the compose file describes is the one tests/test_cluster.py runs,
configured from the same files; the files it mounts exist and parse."""

from __future__ import annotations

import configparser
import re
import shutil
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
SECRETS = {"./pgbouncer/userlist.txt"}  # the operator's, never in the repository


def test_the_compose_file_has_every_piece_of_the_topology():
    assert set(SERVICES) >= {
        "postgres-primary", "postgres-replica", "pgbouncer", "redis", "migrate",
        "app1", "app2", "haproxy", "prometheus",
    }  # fmt: skip


def test_app_nodes_use_the_pool_the_replica_and_redis_and_wait_for_migrations():
    for name in ("app1", "app2"):
        env = SERVICES[name]["environment"]
        assert env["DATABASE_POOLER"] == "pgbouncer"
        assert "@pgbouncer:6432/" in env["DATABASE_URL"]
        assert "@postgres-replica:5432/" in env["DATABASE_REPLICA_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:")
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}
    migrate = SERVICES["migrate"]
    assert migrate["command"][-2:] == ["migrate", "--no-input"]
    assert "@postgres-primary:5432/" in migrate["environment"]["DATABASE_URL"]
    assert not migrate["environment"]["DATABASE_POOLER"]


def test_every_mounted_file_exists():
    for service in SERVICES.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./") and source not in SECRETS:
                assert (DEPLOY / source).is_file(), source


def test_the_balancer_sends_to_the_compose_app_nodes():
    servers = re.findall(
        r"^\s*server (\S+) (\S+):8000", (DEPLOY / "haproxy/haproxy.cfg").read_text(), re.M
    )
    assert [host for _, host in servers] == ["app1", "app2"]


def test_pgbouncer_pools_transactions_and_sets_the_request_limits():
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(DEPLOY / "pgbouncer/pgbouncer.ini")
    assert ini["pgbouncer"]["pool_mode"] == "transaction"
    pool = ini["databases"]["shelfwise"]
    assert "host=postgres" in pool
    for name in ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"):
        assert f"SET {name}" in pool


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing: install prometheus")
def test_promtool_accepts_the_prometheus_config(child_process):
    done = child_process(
        ["promtool", "check", "config", str(DEPLOY / "prometheus/prometheus.yml")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
