"""The book-metadata service as the tests see it (tests/metadata_server.py).

Not slow: the server is a ThreadingHTTPServer on a thread of the test process, started in
milliseconds; no process is made, so its tests stay in the fast tier."""

from __future__ import annotations

import pytest

# Their own server on 127.0.0.1, small timeouts; each test overrides what it exercises
# (``book_metadata(RETRIES=0)``).
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
