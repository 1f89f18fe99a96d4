"""The per-tenant book count (TenantBookCount) behind page 1's exact ``count``: kept by
triggers in the writes' own transactions, so it stays exact under any writer."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction

from catalog import services
from catalog.models import Book, TenantBookCount
from catalog.selectors import book_list, tenants_by_size
from perf.pytest_plugin import query_budget
from shelfwise.seeding import _copy
from tests.factories import AuthorFactory, BookFactory, PublisherFactory, TenantFactory


def counted(tenant) -> int:
    """The counter as the triggers left it, and as the catalog reads it."""
    row = TenantBookCount.objects.filter(tenant=tenant).values_list("books", flat=True)
    books = row[0] if row else 0
    assert book_list(tenant=tenant).count() == books
    return books


def counted_by_postgres(tenant) -> int:
    return Book.objects.filter(tenant=tenant).count()


@pytest.mark.django_db
def test_page_one_reads_the_counter_instead_of_counting_every_book(member, tenant):
    for _ in range(3):
        BookFactory(tenant=tenant)
    BookFactory()  # another tenant's
    with query_budget(3, exact=True) as recording:
        response = member.get("/api/v2/books?limit=2")
    assert response.status_code == 200
    assert response.json()["count"] == 3
    sql = " ".join(q.sql for q in recording.queries)
    assert "catalog_tenantbookcount" in sql
    assert "COUNT(*)" not in sql


@pytest.mark.django_db
def test_anything_narrower_than_the_whole_catalog_is_counted_by_postgres(member, tenant):
    mine = BookFactory(tenant=tenant, price=Decimal("5.00"))
    BookFactory(tenant=tenant, publisher=mine.publisher, price=Decimal("50.00"))
    BookFactory(tenant=tenant)
    for query, expected in [
        (f"publisher={mine.publisher_id}", 2),
        ("max_price=10.00", 1),
        ("ordering=-price", 3),  # an ordering is not a filter: the counter answers
    ]:
        with query_budget(3, exact=True) as recording:
            body = member.get(f"/api/v2/books?limit=1&{query}").json()
        assert body["count"] == expected, query
        uses_counter = "catalog_tenantbookcount" in recording.queries[1].sql
        assert uses_counter == query.startswith("ordering"), query
    books = book_list(tenant=tenant)
    assert books.filter(pk=mine.pk).count() == 1
    assert books.exclude(pk=mine.pk).count() == 2
    assert books[:2].count() == 2
    with pytest.raises(Exception, match="without for_tenant"):
        Book.objects.count()  # still fails closed


@pytest.mark.django_db
@pytest.mark.allow_repeats("the test reads the count after each write on purpose")
def test_the_count_follows_every_kind_of_write(tenant, operator):
    other = TenantFactory()
    assert counted(tenant) == 0  # no row yet: no books
    BookFactory.create_batch(3, tenant=tenant)
    BookFactory(tenant=other)
    assert (counted(tenant), counted(other)) == (3, 1)
    rows = [
        {"isbn": f"978{i:010d}", "title": f"T{i}", "price": "1.00", "author": "A", "publisher": "P"}
        for i in range(5)
    ]
    assert operator.post("/api/v2/books/bulk", rows).status_code == 200
    assert operator.post("/api/v2/books/bulk", rows).status_code == 200  # updates only
    assert counted(tenant) == 8
    book = Book.objects.filter(tenant=tenant).first()
    assert operator.delete(f"/api/v2/books/{book.id}").status_code == 204
    assert counted(tenant) == 7
    moved = Book.objects.filter(tenant=tenant).first()
    moved.tenant = other  # (the app never does this; the triggers still follow it)
    moved.author = AuthorFactory(tenant=other)
    moved.publisher = PublisherFactory(tenant=other)
    moved.save()
    assert (counted(tenant), counted(other)) == (6, 2)
    with transaction.atomic():
        BookFactory(tenant=tenant)
        transaction.set_rollback(True)  # a rolled-back insert counts nothing
    template = Book.objects.filter(tenant=tenant).first()
    columns = ("id", "tenant_id", "title", "isbn", "price", "stock", "author_id", "publisher_id",
               "description")  # fmt: skip
    _copy(  # the seed's COPY
        "catalog_book",
        columns,
        [
            (uuid.uuid4(), tenant.id, f"Copied {i}", f"976{i:010d}", "1.00", 0,
             template.author_id, template.publisher_id, "")
            for i in range(4)
        ],
    )  # fmt: skip
    assert counted(tenant) == 10
    Book.objects.filter(tenant=tenant, title__startswith="Copied").delete()
    Book.objects.filter(tenant=other).delete()
    assert (counted(tenant), counted(other)) == (6, 0)
    assert (counted_by_postgres(tenant), counted_by_postgres(other)) == (6, 0)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.allow_repeats("parallel writers repeat the same statements by design")
def test_concurrent_writers_of_one_tenant_leave_an_exact_count_and_truncate_clears_it():
    # Bulk imports, single creates and deletes of one tenant, each in its own transaction
    # and connection, all at once: the counter's row lock makes them add up in turn.
    tenant = TenantFactory()
    author, publisher = AuthorFactory(tenant=tenant), PublisherFactory(tenant=tenant)
    doomed = BookFactory.create_batch(6, tenant=tenant, author=author, publisher=publisher)
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def bulk(start: int) -> None:
        services.books_bulk_upsert(
            tenant=tenant,
            rows=[
                services.BookImportRow(
                    isbn=f"979{start + i:010d}",
                    title=f"B{start + i}",
                    price=Decimal("1.00"),
                    author="A",
                    publisher="P",
                )
                for i in range(40)
            ],
        )

    def create(start: int) -> None:
        for i in range(10):
            services.book_create(
                tenant=tenant,
                title=f"C{start + i}",
                isbn=f"977{start + i:010d}",
                price=Decimal("2.00"),
                author_id=author.id,
                publisher_id=publisher.id,
            )

    def delete(books) -> None:
        for book in books:
            services.book_delete(tenant=tenant, book_id=book.id)

    def run(work, *args) -> None:
        try:
            barrier.wait(timeout=60)
            work(*args)
        except BaseException as exc:  # reported below, with the thread's traceback
            errors.append(exc)
        finally:
            connections.close_all()

    jobs = [(bulk, 0), (bulk, 100), (create, 0), (create, 100), (delete, doomed[:3])]
    jobs.append((delete, doomed[3:]))
    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert counted_by_postgres(tenant) == 6 + 80 + 20 - 6
    assert counted(tenant) == counted_by_postgres(tenant)
    with connection.cursor() as cursor:  # (outside a test transaction: its own test)
        cursor.execute("TRUNCATE catalog_book CASCADE")
    assert counted(tenant) == 0
    assert not TenantBookCount.objects.exists()


@pytest.mark.django_db
def test_tenants_by_size_reads_the_counter_largest_first(tenant):
    small = TenantFactory(slug="b-small")
    TenantFactory(slug="a-empty")  # no books, no counter row: 0
    BookFactory(tenant=small)
    for _ in range(2):
        BookFactory(tenant=tenant)
    with query_budget(1, exact=True) as recording:
        sizes = [(t.slug, t.n_books) for t in tenants_by_size()]
    assert "catalog_tenantbookcount" in recording.queries[0].sql
    assert "COUNT(" not in recording.queries[0].sql
    assert sizes == [(tenant.slug, 2), ("b-small", 1), ("a-empty", 0)]
