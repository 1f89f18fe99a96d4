"""Book metadata by ISBN from an outside service shaped like the Open Library API:
``GET {BOOK_METADATA['URL']}/isbn/{isbn}.json`` answers
``{"number_of_pages": 320, "covers": [123], "subjects": ["Fiction", ...]}`` or 404.

One pooled client per process (``core.http_client.ResilientClient``: kept-alive connections,
timeouts, retries, circuit breaker), built on first use from ``settings.BOOK_METADATA``
and rebuilt if those settings change. ``metadata_fetch`` asks for many ISBNs at once,
``CONCURRENCY`` at a time, all within one overall deadline, and never raises because the
service misbehaves: it reports what it could not fetch. It touches no database, so that
no transaction or row lock is ever held while waiting on the network.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from django.conf import settings

from core.http_client import CallFailed, ClientConfig, ResilientClient

logger = structlog.get_logger("catalog.metadata")

MAX_SUBJECTS = 20
MAX_SUBJECT_LENGTH = 100
MAX_PAGE_COUNT = 100_000


@dataclass(frozen=True, slots=True)
class BookMetadata:
    isbn: str
    cover_url: str | None
    page_count: int | None
    subjects: tuple[str, ...]


@dataclass(slots=True)
class MetadataFetch:
    """Every ISBN asked for lands in exactly one of ``found``, ``not_found`` (the service
    does not know it) and ``failed`` (no usable answer: worth asking again later).
    ``skipped_reason`` says why some were not even asked: ``disabled`` (no URL set),
    ``circuit_open`` or ``deadline``."""

    found: dict[str, BookMetadata] = field(default_factory=dict)
    not_found: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped_reason: str | None = None


def _setting(name: str) -> Any:
    return settings.BOOK_METADATA[name]


def metadata_enabled() -> bool:
    return bool(_setting("URL"))


def _client_config() -> ClientConfig:
    return ClientConfig(
        base_url=_setting("URL"),
        connect_timeout_s=_setting("CONNECT_TIMEOUT_MS") / 1000,
        read_timeout_s=_setting("READ_TIMEOUT_MS") / 1000,
        retries=max(0, _setting("RETRIES")),
        backoff_s=_setting("BACKOFF_MS") / 1000,
        max_connections=max(1, _setting("MAX_CONNECTIONS")),
        keepalive_expiry_s=_setting("KEEPALIVE_EXPIRY_MS") / 1000,
        breaker_failures=_setting("BREAKER_FAILURES"),
        breaker_reset_s=_setting("BREAKER_RESET_MS") / 1000,
    )


_client: ResilientClient | None = None
_client_lock = threading.Lock()


def metadata_client() -> ResilientClient:
    """The process's client (its pool and its breaker), for the current settings."""
    global _client
    config = _client_config()
    with _client_lock:
        if _client is None or _client.config != config:
            if _client is not None:
                _client.close()
            _client = ResilientClient(config)
        return _client


def metadata_client_reset() -> None:
    """Close the process's client: its connections, and its breaker's memory."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
        _client = None


def metadata_parse(isbn: str, payload: Any) -> BookMetadata | None:
    """The fields ShelfWise keeps, from an Open Library edition; None if it is not one.
    Anything odd in a field (a wrong type, an absurd value) leaves that field empty."""
    if not isinstance(payload, dict):
        return None
    pages = payload.get("number_of_pages")
    page_count = (
        pages
        if isinstance(pages, int) and not isinstance(pages, bool) and 0 < pages <= MAX_PAGE_COUNT
        else None
    )
    covers = payload.get("covers")
    cover_ids = (
        [c for c in covers or () if isinstance(c, int) and not isinstance(c, bool) and c > 0]
        if isinstance(covers, list)
        else []
    )
    cover_url = _setting("COVER_URL").format(cover_id=cover_ids[0]) if cover_ids else None
    raw_subjects = payload.get("subjects")
    subjects: list[str] = []
    for subject in raw_subjects if isinstance(raw_subjects, list) else ():
        text = subject.strip()[:MAX_SUBJECT_LENGTH] if isinstance(subject, str) else ""
        if text and text not in subjects:
            subjects.append(text)
        if len(subjects) == MAX_SUBJECTS:
            break
    return BookMetadata(isbn, cover_url, page_count, tuple(subjects))


def _fetch_one(client: ResilientClient, isbn: str, deadline: float) -> BookMetadata | str:
    """The metadata, ``"not_found"``, or the reason of a failure."""
    try:
        response = client.get(f"/isbn/{isbn}.json", deadline=deadline)
    except CallFailed as exc:
        return exc.reason
    if response.status_code == 404:
        return "not_found"
    if response.status_code != 200:
        return f"http_{response.status_code}"
    try:
        payload = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return "bad_response"
    return metadata_parse(isbn, payload) or "bad_response"


def _outcome(future: Future[BookMetadata | str]) -> BookMetadata | str:
    if not future.done() or future.cancelled():
        return "deadline"
    try:
        return future.result()
    except Exception:
        # A bug of ours must not fail the import that asked: report the book as failed.
        logger.exception("book_metadata_error")
        return "error"


def metadata_fetch(isbns: Sequence[str]) -> MetadataFetch:
    """Ask the service about each ISBN: at most ``CONCURRENCY`` calls at a time, all
    done or given up by ``DEADLINE_MS`` from now (plus the scheduling slack of a thread
    pool). Calls still running then are left to finish within their own timeouts, which
    never reach past the deadline."""
    result = MetadataFetch()
    wanted = list(dict.fromkeys(isbns))
    if not wanted:
        return result
    if not metadata_enabled():
        result.failed = wanted
        result.skipped_reason = "disabled"
        return result
    client = metadata_client()
    deadline = time.monotonic() + _setting("DEADLINE_MS") / 1000
    workers = max(1, min(_setting("CONCURRENCY"), len(wanted)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="book-metadata")
    try:
        futures: dict[Future[BookMetadata | str], str] = {
            pool.submit(_fetch_one, client, isbn, deadline): isbn for isbn in wanted
        }
        wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    reasons: set[str] = set()
    for future, isbn in futures.items():
        outcome = _outcome(future)
        if isinstance(outcome, BookMetadata):
            result.found[isbn] = outcome
        elif outcome == "not_found":
            result.not_found.append(isbn)
        else:
            result.failed.append(isbn)
            reasons.add(outcome)
    for reason in ("circuit_open", "deadline"):
        if reason in reasons:
            result.skipped_reason = reason
            break
    return result
