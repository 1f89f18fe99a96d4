"""Enrichment of the bulk import (?enrich=1) and of existing books (manage.py
enrich_books), against a book-metadata server on 127.0.0.1."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from catalog.models import Book
from catalog.services import books_metadata_enrich
from catalog.tests.test_books_write_api import BULK_BUDGET, import_rows
from perf.pytest_plugin import query_budget
from tests.factories import BookFactory

pytestmark = pytest.mark.django_db

ENRICH = "/api/v2/books/bulk?enrich=1"


def stored(tenant, isbn):
    return (
        Book.objects.for_tenant(tenant)
        .values("cover_url", "page_count", "subjects", "metadata_checked_at")
        .get(isbn=isbn)
    )


@pytest.mark.parametrize("n_rows", [10, 200])
def test_enrichment_adds_a_fixed_number_of_queries(operator, tenant, book_metadata, n_rows):
    # The budget's steady state (names exist, half the rows update books), plus the two
    # writes of the enrichment: the books locked in id order, one UPDATE.
    book_metadata(CONCURRENCY=8, MAX_CONNECTIONS=8)
    half = n_rows // 2
    assert operator.post("/api/v2/books/bulk", import_rows(n_rows, start=half)).status_code == 200
    with query_budget(BULK_BUDGET + 2, exact=True):
        response = operator.post(ENRICH, import_rows(n_rows))
    assert response.status_code == 200, response.content
    assert response.json()["enrichment"] == {
        "enriched": n_rows,
        "not_found": [],
        "failed": [],
        "skipped_reason": None,
    }
    row = stored(tenant, import_rows(1)[0]["isbn"])
    assert row["page_count"] == 100 and row["subjects"] == ["Fiction", "Shelf 0"]
    assert row["cover_url"].endswith("/b/id/1-L.jpg") and row["metadata_checked_at"]


def test_the_detail_shows_the_enrichment(operator, tenant, book_metadata, metadata_server):
    metadata_server.unknown = {import_rows(2)[1]["isbn"]}
    body = operator.post(ENRICH, import_rows(2)).json()
    assert body["enrichment"]["enriched"] == 1
    assert body["enrichment"]["not_found"] == [import_rows(2)[1]["isbn"]]
    found, unknown = (operator.get(f"/api/v2/books/{b['id']}").json() for b in body["books"])
    assert (found["page_count"], found["subjects"]) == (100, ["Fiction", "Shelf 0"])
    assert (unknown["cover_url"], unknown["page_count"], unknown["subjects"]) == (None,) * 3
    # Looked up all the same: enrich_books will not ask again.
    assert stored(tenant, import_rows(2)[1]["isbn"])["metadata_checked_at"]


def test_an_import_never_fails_because_the_service_does(
    operator, tenant, book_metadata, metadata_server
):
    book_metadata(RETRIES=0, BREAKER_FAILURES=3, CONCURRENCY=1)
    metadata_server.mode = "fail"
    rows = import_rows(8)
    # Nothing to write: not one query more than an import without enrichment.
    with query_budget(BULK_BUDGET + 3, exact=True):  # + 3: a first import's name INSERTs
        response = operator.post(ENRICH, rows)
    assert response.status_code == 200
    body = response.json()
    assert body["created"] == 8
    assert body["enrichment"] == {
        "enriched": 0,
        "not_found": [],
        "failed": [row["isbn"] for row in rows],
        "skipped_reason": "circuit_open",
    }
    assert metadata_server.requests == 3
    assert stored(tenant, rows[0]["isbn"])["metadata_checked_at"] is None


def test_a_slow_service_never_holds_an_import_past_the_deadline(
    operator, tenant, book_metadata, metadata_server
):
    # The server would answer after 30 s and each call may wait 20 s; the import's
    # enrichment has 0.5 s in all.
    book_metadata(READ_TIMEOUT_MS=20_000, DEADLINE_MS=500)
    metadata_server.mode = "slow"
    started = time.monotonic()
    response = operator.post(ENRICH, import_rows(5))
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json()["enrichment"]["skipped_reason"] == "deadline"
    assert len(response.json()["enrichment"]["failed"]) == 5
    assert elapsed < 10, f"the import took {elapsed:.1f} s with a 0.5 s deadline"
    assert Book.objects.for_tenant(tenant).count() == 5


def test_asking_while_disabled_is_reported(operator, tenant, metadata_server):
    rows = import_rows(2)
    response = operator.post(ENRICH, rows)
    assert response.status_code == 200
    assert response.json()["enrichment"] == {
        "enriched": 0,
        "not_found": [],
        "failed": [row["isbn"] for row in rows],
        "skipped_reason": "disabled",
    }
    assert metadata_server.requests == 0


def test_enrichment_is_opt_in(operator, book_metadata, metadata_server):
    response = operator.post("/api/v2/books/bulk", import_rows(2))
    assert response.json()["enrichment"] is None
    assert metadata_server.requests == 0


def test_a_bad_flag_is_a_400(operator):
    response = operator.post("/api/v2/books/bulk?enrich=maybe", import_rows(1))
    assert response.status_code == 400
    assert not Book.objects.across_tenants("test").exists()


def test_enrichment_refuses_to_wait_inside_a_transaction(tenant, book_metadata, metadata_server):
    book = BookFactory(tenant=tenant)
    with transaction.atomic(), pytest.raises(RuntimeError, match="inside a transaction"):
        books_metadata_enrich(tenant=tenant, book_ids={book.isbn: book.id})
    assert metadata_server.requests == 0


def test_enrichment_touches_only_its_tenants_books(tenant, other_tenant, book_metadata):
    mine = BookFactory(tenant=tenant)
    theirs = BookFactory(tenant=other_tenant)
    report = books_metadata_enrich(
        tenant=tenant, book_ids={mine.isbn: mine.id, theirs.isbn: theirs.id}
    )
    assert report.enriched == 1
    assert stored(other_tenant, theirs.isbn)["page_count"] is None


# --- manage.py enrich_books --------------------------------------------------------------


def run_enrich_books(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("enrich_books", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_enrich_books_fills_the_books_not_yet_looked_up(tenant, book_metadata, metadata_server):
    books = [BookFactory(tenant=tenant, isbn=f"978{i:010d}") for i in range(5)]
    metadata_server.unknown = {books[4].isbn}
    out, err = run_enrich_books(tenant.slug, "--batch-size=2")
    assert f"{tenant.slug}: 4 enriched, 1 not found, 0 failed, 0 not tried, of 5" in out
    progress = [line for line in err.splitlines() if "/5 books" in line]
    # Batches run in id order, so where the unknown ISBN falls is random.
    assert [line.split(":")[0] for line in progress] == ["2/5 books", "4/5 books", "5/5 books"]
    assert progress[-1] == "5/5 books: 4 enriched, 1 not found, 0 failed"
    assert stored(tenant, books[0].isbn)["page_count"] == 100
    # A second run has nothing left to ask; --recheck asks again.
    assert "of 0" in run_enrich_books(tenant.slug)[0]
    assert metadata_server.requests == 5
    again = run_enrich_books(tenant.slug, "--recheck")[0]
    assert "4 enriched, 1 not found, 0 failed, 0 not tried, of 5" in again
    assert metadata_server.requests == 10


def test_enrich_books_stops_when_the_circuit_opens(tenant, book_metadata, metadata_server):
    book_metadata(RETRIES=0, BREAKER_FAILURES=2, CONCURRENCY=1)
    metadata_server.mode = "fail"
    for i in range(6):
        BookFactory(tenant=tenant, isbn=f"978{i:010d}")
    out, _ = run_enrich_books(tenant.slug, "--batch-size=3")
    assert "0 enriched, 0 not found, 3 failed, 3 not tried, of 6" in out
    assert "stopped early" in out
    assert metadata_server.requests == 2


def test_enrich_books_needs_the_service_and_a_tenant(tenant, settings):
    with pytest.raises(CommandError, match="BOOK_METADATA_URL"):
        run_enrich_books(tenant.slug)
    with pytest.raises(CommandError, match="no tenant"):
        run_enrich_books("no-such-tenant")
