"""The operators' bulk edits: books_reprice, books_restock, author_rename."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest

from catalog.models import MAX_STOCK, Book
from catalog.selectors import book_search
from catalog.services import (
    BulkEditError,
    author_rename,
    book_search_documents_refresh,
    books_reprice,
    books_restock,
)
from perf.pytest_plugin import query_budget
from tests.factories import AuthorFactory, BookFactory

pytestmark = pytest.mark.django_db

# Lock the rows in id order, then one UPDATE, inside the service's atomic (BEGIN/COMMIT,
# uncounted; query_budget leaves out the savepoint pair a test's transaction makes of
# it); reprice wraps its UPDATE in a savepoint pair of its own, which turns a numeric
# overflow into BulkEditError.
REPRICE_QUERIES = 1 + 1 + 2
RESTOCK_QUERIES = 1 + 1


def prices(books) -> list[Decimal]:
    return [Book.objects.across_tenants("test").get(pk=b.pk).price for b in books]


@pytest.mark.parametrize(
    ("price", "percent", "expected"),
    [
        ("12.50", "10", "13.75"),
        ("9.99", "10", "10.99"),  # 10.989
        ("0.05", "-50", "0.03"),  # 0.025: half away from zero
        ("19.99", "-33.33", "13.33"),  # 13.327333
        ("7.00", "-100", "0.00"),
        ("7.00", "0", "7.00"),
        ("1.00", "1000", "11.00"),
    ],
)
def test_reprice_is_exact_decimal_math_rounded_to_cents(tenant, price, percent, expected):
    book = BookFactory(tenant=tenant, price=Decimal(price))
    assert books_reprice(tenant=tenant, book_ids=[book.id], percent=Decimal(percent)) == 1
    # The same rule in Python's Decimal.
    python = (Decimal(price) * (100 + Decimal(percent)) / 100).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    assert prices([book]) == [Decimal(expected)] == [max(python, Decimal("0.00"))]


@pytest.mark.parametrize("percent", ["-100.01", "1000.01", "NaN", "Infinity"])
def test_reprice_refuses_out_of_range_percentages(tenant, percent):
    book = BookFactory(tenant=tenant)
    with pytest.raises(BulkEditError):
        books_reprice(tenant=tenant, book_ids=[book.id], percent=Decimal(percent))
    assert prices([book]) == [Decimal("12.50")]


def test_reprice_overflow_changes_nothing(tenant):
    books = [
        BookFactory(tenant=tenant, price=Decimal("1.00")),
        BookFactory(tenant=tenant, price=Decimal("99999999.00")),
    ]
    with pytest.raises(BulkEditError):
        books_reprice(tenant=tenant, book_ids=[b.id for b in books], percent=Decimal("10"))
    assert prices(books) == [Decimal("1.00"), Decimal("99999999.00")]


def test_bulk_edits_leave_other_tenants_books_alone(tenant, other_tenant):
    mine = BookFactory(tenant=tenant, stock=1)
    theirs = BookFactory(tenant=other_tenant, stock=1)
    ids = [mine.id, theirs.id]
    assert books_reprice(tenant=tenant, book_ids=ids, percent=Decimal("100")) == 1
    assert books_restock(tenant=tenant, book_ids=ids, quantity=4) == 1
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.price, mine.stock) == (Decimal("25.00"), 5)
    assert (theirs.price, theirs.stock) == (Decimal("12.50"), 1)


@pytest.mark.parametrize("quantity", [0, -1, 100_001])
def test_restock_refuses_out_of_range_quantities(tenant, quantity):
    book = BookFactory(tenant=tenant)
    with pytest.raises(BulkEditError):
        books_restock(tenant=tenant, book_ids=[book.id], quantity=quantity)


def test_restock_past_the_stock_limit_changes_nothing(tenant):
    full = BookFactory(tenant=tenant, stock=MAX_STOCK - 10)
    empty = BookFactory(tenant=tenant, stock=0)
    with pytest.raises(BulkEditError):
        books_restock(tenant=tenant, book_ids=[full.id, empty.id], quantity=11)
    empty.refresh_from_db()
    assert empty.stock == 0
    assert books_restock(tenant=tenant, book_ids=[full.id, empty.id], quantity=10) == 2
    full.refresh_from_db()
    assert full.stock == MAX_STOCK


@pytest.mark.parametrize("n", [3, 40])
def test_bulk_edits_run_the_same_queries_for_any_number_of_books(tenant, n):
    books = BookFactory.create_batch(n, tenant=tenant, stock=0)
    ids = [b.id for b in books]
    with query_budget(REPRICE_QUERIES, exact=True):
        books_reprice(tenant=tenant, book_ids=ids, percent=Decimal("5"))
    with query_budget(RESTOCK_QUERIES, exact=True):
        books_restock(tenant=tenant, book_ids=ids, quantity=3)
    assert set(Book.objects.filter(tenant=tenant).values_list("stock", flat=True)) == {3}


def test_author_rename_rebuilds_the_search_documents_of_their_books(tenant, other_tenant):
    author = AuthorFactory(tenant=tenant, name="Old Name")
    books = BookFactory.create_batch(3, tenant=tenant, author=author)
    book_search_documents_refresh(tenant=tenant)
    # Two UPDATEs inside the service's atomic (BEGIN/COMMIT, uncounted).
    with query_budget(2, exact=True):
        author_rename(tenant=tenant, author_id=author.id, name="Marguerite Yourcenar")
    assert {b["id"] for b in book_search(tenant=tenant, text="yourcenar")} == {b.id for b in books}
    assert not book_search(tenant=tenant, text="old name").exists()
    with pytest.raises(type(author).DoesNotExist):
        author_rename(tenant=other_tenant, author_id=author.id, name="Stolen")
