"""`manage.py bench --story` on a tiny catalog: the four steps, their query counts, and a
schema and data left exactly as found.

transaction=True: the command's own transaction (DROP INDEX ... ROLLBACK) is a real one
here, not a savepoint inside the test's.
"""

from __future__ import annotations

import json
import threading
from io import StringIO

import factory
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import override_settings

from benchmarks import story
from tests.factories import (
    AuthorFactory,
    BookFactory,
    BookGenreFactory,
    GenreFactory,
    PublisherFactory,
    TenantFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _catalog(n_books: int, slug: str):
    tenant = TenantFactory(slug=slug)
    authors = AuthorFactory.create_batch(max(1, n_books // 4), tenant=tenant)
    publishers = PublisherFactory.create_batch(2, tenant=tenant)
    books = BookFactory.create_batch(
        n_books,
        tenant=tenant,
        author=factory.Iterator(authors),
        publisher=factory.Iterator(publishers),
    )
    genre = GenreFactory(tenant=tenant)
    for book in books[::3]:
        BookGenreFactory(book=book, genre=genre, tenant=tenant)
    return tenant


def _index_definition() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'book_tenant_title_id'")
        row = cursor.fetchone()
    return row[0] if row else None


def _data_checksum() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT md5(string_agg(b::text, ',' ORDER BY b.id)) FROM catalog_book b")
        books = cursor.fetchone()[0]
        cursor.execute("SELECT md5(string_agg(a::text, ',' ORDER BY a.id)) FROM catalog_author a")
        return books + cursor.fetchone()[0]


def _bench(*args: str, tmp_path) -> tuple[dict, str, str]:
    out, err = StringIO(), StringIO()
    path = tmp_path / "story.json"
    call_command("bench", "--story", "--json", str(path), *args, stdout=out, stderr=err)
    return json.loads(path.read_text()), out.getvalue(), err.getvalue()


@pytest.mark.allow_unscoped("checksums every tenant's books and authors, in raw SQL")
@pytest.mark.parametrize("n_books", [40, 120])
def test_story_runs_the_four_steps_and_leaves_schema_and_data_as_found(n_books, tmp_path):
    _catalog(n_books, "story-large")
    _catalog(n_books // 4, "story-small")  # the default is the tenant with the most books
    definition, checksum = _index_definition(), _data_checksum()
    assert definition is not None

    # One repetition each: the only statement repeated 5+ times is then the naive steps'
    # author query, which the bench allows on purpose (the plugin would fail this test).
    result, out, err = _bench("--repeat", "1", "--lazy-repeat", "1", tmp_path=tmp_path)

    assert result["tenant"] == "story-large"
    assert result["books"] == n_books
    steps = result["steps"]
    assert [s["step"] for s in steps] == [0, 1, 2, 3]
    queries = [s["queries"]["median"] for s in steps]
    # Naive: the book query plus one author per book. Bundle: books joined to author and
    # publisher, plus the genres prefetch, whatever the catalog's size.
    assert queries == [n_books + 1, n_books + 1, 2, 2]
    assert result["bodies"] == "identical bytes"
    for s in steps:
        assert s["db_ms"]["median"] > 0 and s["total_ms"]["median"] > 0
        assert s["cpu_ms"]["median"] > 0
    assert "ACCESS EXCLUSIVE" in err
    assert "| 3 + orjson |" in out and "50,001 / 1,800 / 200 / 2,100" in out

    assert _index_definition() == definition
    assert _data_checksum() == checksum


@pytest.mark.allow_repeats("the bench serves the same request once per repetition")
def test_story_repeats_each_step_and_takes_the_tenant_asked_for(tmp_path):
    _catalog(30, "story-large")
    small = _catalog(12, "story-small")

    result, _, _ = _bench(
        "--tenant", small.slug, "--repeat", "3", "--lazy-repeat", "2", tmp_path=tmp_path
    )

    assert result["tenant"] == small.slug
    assert [s["samples"] for s in result["steps"]] == [2, 2, 3, 3]
    assert [s["queries"]["median"] for s in result["steps"]] == [13, 13, 2, 2]
    total = result["steps"][2]["total_ms"]
    assert total["min"] <= total["median"] <= total["max"]


def test_story_refuses_an_empty_database(tmp_path):
    with pytest.raises(CommandError, match=r"no tenant in the database: run `manage\.py seed`"):
        _bench(tmp_path=tmp_path)


def test_story_refuses_a_tenant_without_books_or_unknown(tmp_path):
    TenantFactory(slug="empty-shelf")
    with pytest.raises(CommandError, match="'empty-shelf' has no books"):
        _bench(tmp_path=tmp_path)
    with pytest.raises(CommandError, match="no tenant with slug 'nowhere'"):
        _bench("--tenant", "nowhere", tmp_path=tmp_path)


def test_story_refuses_prod_without_force(tmp_path):
    _catalog(8, "story-prod")
    with override_settings(IS_PROD=True), pytest.raises(CommandError, match="--force"):
        _bench(tmp_path=tmp_path)
    assert _index_definition() is not None


def test_step_zero_reads_without_the_index_and_rolls_the_drop_back():
    definition = _index_definition()

    with story.catalog_index_dropped():
        assert _index_definition() is None

    assert _index_definition() == definition


def test_step_zero_gives_up_when_catalog_book_stays_locked(monkeypatch):
    """A long transaction holding catalog_book: the bench must not queue every request
    behind its DROP INDEX, it gives up after lock_timeout instead."""
    monkeypatch.setattr(story, "LOCK_TIMEOUT_MS", 200)
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("LOCK TABLE catalog_book IN ACCESS SHARE MODE")
                locked.set()
                release.wait(timeout=20)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    with connection.cursor() as cursor:
        # No limit of the connection's own (tests get the servers' limits): only the
        # bench's lock_timeout may end the wait; without it the DROP waits for the holder.
        cursor.execute("SET lock_timeout = 0; SET statement_timeout = 0")
    try:
        assert locked.wait(timeout=30)
        refused = pytest.raises(story.StoryError, match="could not lock catalog_book within 200 ms")
        with refused, story.catalog_index_dropped():
            pass
    finally:
        release.set()
        holder.join(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout; RESET statement_timeout")
    assert _index_definition() is not None
