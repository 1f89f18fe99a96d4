"""The book-metadata service as the tests see it: ``MetadataServer`` and its fixtures.

Not slow: the server is a ThreadingHTTPServer on a thread of the test process, started in
milliseconds; no process is made, so its tests stay in the fast tier.

The server is a book-metadata service on 127.0.0.1, shaped like Open Library's
``GET /isbn/{isbn}.json``, with the behaviours a real one has on a bad day.

It counts what the client cannot hide: the TCP connections it accepts and the requests it
serves (HTTP/1.1 keep-alive, so one connection can carry many requests).

Modes: ``ok`` (an edition per ISBN, 404 for ``unknown`` ones), ``slow`` (each answer
waits ``delay_s``, or until the server stops), ``fail`` (500), ``flap`` (the first
request for each path gets a 503, the next ones answer as ``ok``).
"""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest


def edition(isbn: str) -> dict[str, Any]:
    return {
        "number_of_pages": 100 + int(isbn[-3:].replace("X", "0")),
        "covers": [int(isbn[-6:].replace("X", "0")) + 1, 7],
        "subjects": ["Fiction", f"Shelf {isbn[-1]}", "Fiction"],
        "title": "ignored",
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: answers carry Content-Length
    server: MetadataServer

    def do_GET(self) -> None:
        server = self.server
        seen = server.record(self.path)
        mode = server.mode
        if mode == "slow":
            server.stopping.wait(server.delay_s)
            mode = "ok"
        if mode == "fail" or (mode == "flap" and seen == 1):
            self._send(500 if mode == "fail" else 503, {"error": "unavailable"})
            return
        isbn = self.path.removeprefix("/isbn/").removesuffix(".json")
        if not self.path.startswith("/isbn/") or isbn in server.unknown:
            self._send(404, {"error": "notfound"})
            return
        self._send(200, edition(isbn))

    def _send(self, status: int, body: Any) -> None:
        payload = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class MetadataServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a client's idle kept-alive connection must not block stop()

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = "ok"
        self.delay_s = 30.0
        self.unknown: set[str] = set()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.connections = 0
        self.requests_by_path: Counter[str] = Counter()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> int:
        with self._lock:
            return sum(self.requests_by_path.values())

    def record(self, path: str) -> int:
        with self._lock:
            self.requests_by_path[path] += 1
            return self.requests_by_path[path]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self.connections += 1
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up: expected here

    def start(self) -> MetadataServer:
        threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


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
    """A book-metadata service on 127.0.0.1 (``MetadataServer``); the process's
    pooled client is dropped before and after, so no test inherits connections or a
    breaker's memory."""
    from catalog.metadata import metadata_client_reset

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
