"""Books' stock, taken by orders and put back by cancellations: the one place that writes
``catalog_book.stock`` for another app (orders calls these; it never writes the table).

Every writer of several books locks them first, in id order (``lock_in_id_order``), so
that two writers over overlapping books wait for each other instead of deadlocking."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import F, OuterRef, QuerySet, Subquery

from catalog.models import Book
from catalog.services.errors import CatalogError
from perf.locks import takes_locks
from tenants.models import Tenant

# What order placement reads of each book it sells.
_LOCKED_FIELDS = ("id", "price", "stock")

# One statement for every line. The rows are already locked (books_lock); the
# stock condition is the last line of defence against overselling.
_STOCK_TAKE_SQL = """
UPDATE catalog_book AS b SET stock = b.stock - l.quantity
FROM unnest(%s::uuid[], %s::integer[]) AS l(book_id, quantity)
WHERE b.id = l.book_id AND b.tenant_id = %s AND b.stock >= l.quantity
"""


class OutOfStockError(CatalogError):
    """A book has fewer copies than a sale takes. The catalog owns stock: order placement
    raises this one too, with the short lines in its details."""

    code = "out_of_stock"
    status = 409


@takes_locks("catalog_book")
def books_lock(
    *, tenant: Tenant, book_ids: Sequence[uuid.UUID] | QuerySet[Any, Any]
) -> dict[uuid.UUID, Book]:
    """The tenant's books among ``book_ids`` (a list, or a query of ids), with their id,
    price and stock, row-locked in id order until the transaction ends: one query. Other
    tenants' ids are absent."""
    ids = book_ids if isinstance(book_ids, QuerySet) else list(book_ids)
    books = Book.objects.for_tenant(tenant).filter(pk__in=ids)
    return {book.id: book for book in books.lock_in_id_order().only(*_LOCKED_FIELDS)}


@takes_locks(caller_holds=("catalog_book",))
def book_stock_take(*, tenant: Tenant, quantities: Sequence[tuple[uuid.UUID, int]]) -> None:
    """Take ``quantity`` copies of each book, one line per book, in one UPDATE. The caller
    holds the books' locks (``books_lock``) and has checked the stock; should a
    book still be short, OutOfStockError (raise it inside the transaction: nothing is
    taken)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _STOCK_TAKE_SQL,
            [[book_id for book_id, _ in quantities], [n for _, n in quantities], tenant.id],
        )
        if cursor.rowcount != len(quantities):
            raise OutOfStockError("Not enough stock.")


@takes_locks("catalog_book")
def book_stock_restore(*, tenant: Tenant, returned: QuerySet[Any, Any]) -> int:
    """Put copies back: ``returned`` is a query of rows ``{"book_id", "copies"}`` (a
    cancelled order's items, summed per book), read inside the statements rather than
    fetched first. Locks the books in id order, then adds in one UPDATE: two queries
    whatever the number of books. Returns the number of books restocked."""
    books = Book.objects.for_tenant(tenant).filter(pk__in=returned.values("book_id"))
    list(books.lock_in_id_order().values_list("pk", flat=True))
    copies = Subquery(returned.filter(book_id=OuterRef("pk")).values("copies")[:1])
    return books.update(stock=F("stock") + copies)
