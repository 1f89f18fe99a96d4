"""Root fixtures shared by every app's tests."""

from __future__ import annotations

import pytest

from tests.factories import TenantFactory

# The real-process harnesses live in tests/harness (one place); its guard marks their
# tests slow and fails a fast-tier test that starts a process.
pytest_plugins = [
    "perf.pytest_plugin",
    "tests.harness.guard",
    "tests.harness.postgres",
    "tests.harness.pgbouncer",
    "tests.harness.servers",
    "tests.harness.metadata",
]


@pytest.fixture
def tenant(db):
    return TenantFactory()


@pytest.fixture
def other_tenant(db):
    return TenantFactory()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """After creating this run's database, drop test databases left by runs that died
    (each pytest process names its own ``test_shelfwise_<pid>``)."""
    import psutil
    from django.db import connection

    with django_db_blocker.unblock(), connection._nodb_cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE 'test_shelfwise_%%'")
        for (name,) in cursor.fetchall():
            # test_shelfwise_<pid>, or test_shelfwise_<pid>_gw0 under pytest-xdist
            pid = name.removeprefix("test_shelfwise_").partition("_")[0]
            if pid.isdigit() and not psutil.pid_exists(int(pid)):
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
