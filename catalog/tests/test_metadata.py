"""catalog.metadata against a real HTTP server on 127.0.0.1: pooled connections, retries
on 5xx and timeouts only, the overall deadline, the circuit breaker."""

from __future__ import annotations

import time

import pytest

from catalog.metadata import BookMetadata, metadata_client, metadata_fetch, metadata_parse
from core.http_client import BreakerState


def isbns(n, start=0):
    return [f"978{start + i:010d}" for i in range(n)]


def test_connections_are_pooled_and_reused(book_metadata, metadata_server):
    book_metadata(CONCURRENCY=4, MAX_CONNECTIONS=4)
    first = metadata_fetch(isbns(40))
    assert len(first.found) == 40 and first.failed == [] and first.skipped_reason is None
    second = metadata_fetch(isbns(40, start=40))
    assert len(second.found) == 40
    # 80 requests, each its own call, over at most 4 connections for the whole process:
    # the second batch reuses the first one's kept-alive connections.
    assert metadata_server.requests == 80
    assert 1 <= metadata_server.connections <= 4


def test_a_found_edition_keeps_cover_pages_and_subjects(book_metadata, settings):
    [isbn] = isbns(1, start=123)
    fetched = metadata_fetch([isbn])
    cover = settings.BOOK_METADATA["COVER_URL"].format(cover_id=124)
    assert fetched.found == {isbn: BookMetadata(isbn, cover, 223, ("Fiction", "Shelf 3"))}


def test_unknown_isbns_are_not_found_and_never_retried(book_metadata, metadata_server):
    book_metadata(RETRIES=3)
    metadata_server.unknown = set(isbns(3))
    fetched = metadata_fetch(isbns(5))
    assert sorted(fetched.not_found) == isbns(3) and fetched.failed == []
    assert len(fetched.found) == 2
    assert metadata_server.requests == 5
    assert metadata_client().breaker.state is BreakerState.CLOSED


def test_5xx_answers_are_retried(book_metadata, metadata_server):
    book_metadata(RETRIES=1)
    metadata_server.mode = "flap"  # the first request for each ISBN gets a 503
    fetched = metadata_fetch(isbns(6))
    assert len(fetched.found) == 6 and fetched.failed == []
    assert set(metadata_server.requests_by_path.values()) == {2}


def test_retries_are_bounded(book_metadata, metadata_server):
    book_metadata(RETRIES=2, BREAKER_FAILURES=100)
    metadata_server.mode = "fail"
    fetched = metadata_fetch(isbns(3))
    assert sorted(fetched.failed) == isbns(3) and fetched.skipped_reason is None
    assert set(metadata_server.requests_by_path.values()) == {3}  # 1 + 2 retries each


def test_timeouts_are_retried_then_reported(book_metadata, metadata_server):
    book_metadata(RETRIES=1, READ_TIMEOUT_MS=200, BREAKER_FAILURES=100)
    metadata_server.mode = "slow"
    fetched = metadata_fetch(isbns(2))
    assert sorted(fetched.failed) == isbns(2)
    assert set(metadata_server.requests_by_path.values()) == {2}


def test_a_slow_service_is_given_up_at_the_deadline(book_metadata, metadata_server):
    # Every timeout of a single call is far longer than the deadline; the server would
    # answer after 30 s. The deadline alone must end the fetch.
    book_metadata(READ_TIMEOUT_MS=20_000, DEADLINE_MS=500, CONCURRENCY=2)
    metadata_server.mode = "slow"
    started = time.monotonic()
    fetched = metadata_fetch(isbns(6))
    elapsed = time.monotonic() - started
    assert sorted(fetched.failed) == isbns(6) and fetched.skipped_reason == "deadline"
    assert elapsed < 10, f"took {elapsed:.1f} s with a 0.5 s deadline"


def test_a_failing_service_opens_the_circuit(book_metadata, metadata_server):
    book_metadata(RETRIES=0, BREAKER_FAILURES=3, CONCURRENCY=1)
    metadata_server.mode = "fail"
    fetched = metadata_fetch(isbns(10))
    assert sorted(fetched.failed) == isbns(10) and fetched.skipped_reason == "circuit_open"
    assert metadata_server.requests == 3  # then no more calls
    assert metadata_client().breaker.state is BreakerState.OPEN
    again = metadata_fetch(isbns(10))
    assert again.skipped_reason == "circuit_open" and metadata_server.requests == 3


def test_the_circuit_closes_after_a_successful_probe(book_metadata, metadata_server):
    book_metadata(RETRIES=0, BREAKER_FAILURES=2, BREAKER_RESET_MS=300, CONCURRENCY=1)
    metadata_server.mode = "fail"
    assert metadata_fetch(isbns(4)).skipped_reason == "circuit_open"
    assert metadata_server.requests == 2
    metadata_server.mode = "ok"
    breaker = metadata_client().breaker
    give_up = time.monotonic() + 30
    while breaker.state is not BreakerState.HALF_OPEN:
        assert time.monotonic() < give_up, "the breaker never half-opened"
        time.sleep(0.05)
    fetched = metadata_fetch(isbns(4))
    assert len(fetched.found) == 4 and fetched.skipped_reason is None
    assert breaker.state is BreakerState.CLOSED


def test_disabled_without_a_url(settings, metadata_server):
    settings.BOOK_METADATA = {**settings.BOOK_METADATA, "URL": ""}
    fetched = metadata_fetch(isbns(2))
    assert fetched.failed == isbns(2) and fetched.skipped_reason == "disabled"
    assert metadata_server.requests == 0


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({}, (None, None, ())),
        (
            {"number_of_pages": "320", "covers": [-1, "x", True], "subjects": "Fiction"},
            (None, None, ()),
        ),
        (
            {"number_of_pages": 10**9, "covers": None, "subjects": [1, " ", "A"]},
            (None, None, ("A",)),
        ),
        ({"number_of_pages": True, "subjects": [f"s{i}" for i in range(50)]}, (None, None, None)),
    ],
)
def test_odd_fields_are_left_empty(settings, payload, expected):
    parsed = metadata_parse("9780000000001", payload)
    assert parsed is not None
    pages, cover, subjects = expected
    assert (parsed.page_count, parsed.cover_url) == (pages, cover)
    if subjects is None:
        assert len(parsed.subjects) == 20
    else:
        assert parsed.subjects == subjects


def test_a_non_object_is_no_edition():
    assert metadata_parse("9780000000001", ["not", "an", "edition"]) is None
