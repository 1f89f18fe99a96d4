"""The operators' bulk edits (the admin's actions): reprice and restock many books."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

from django.db import DataError, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest, Round

from catalog.models import MAX_STOCK, Book
from catalog.querysets import (
    BookQuerySet,
)
from catalog.services.errors import CatalogError
from perf.locks import takes_locks
from tenants.models import Tenant

# --- Operator bulk edits (the admin's actions) -------------------------------------------

REPRICE_PERCENT_MIN = Decimal("-100")
REPRICE_PERCENT_MAX = Decimal("1000")
RESTOCK_MAX = 100_000


class BulkEditError(CatalogError):
    """A bulk edit's argument is out of range, or its result would not fit the column."""

    code = "invalid_bulk_edit"


def _books_locked(*, tenant: Tenant, book_ids: Sequence[uuid.UUID]) -> tuple[BookQuerySet, int]:
    """The tenant's books among ``book_ids`` and their number, row-locked in id order: the
    lock order of order placement, so a bulk edit and a concurrent order cannot deadlock."""
    books = Book.objects.for_tenant(tenant).filter(pk__in=list(book_ids))
    locked = list(books.lock_in_id_order().values_list("pk", flat=True))
    return books, len(locked)


@takes_locks("catalog_book")
@transaction.atomic
def books_reprice(*, tenant: Tenant, book_ids: Sequence[uuid.UUID], percent: Decimal) -> int:
    """Change the books' prices by ``percent`` (10: +10%, -25: -25%) in one UPDATE.

    Exact numeric arithmetic in PostgreSQL, rounded to cents half away from zero
    (Decimal's ROUND_HALF_UP), never below 0.00. Other tenants' ids are ignored. Returns
    the number of books repriced.
    """
    if not percent.is_finite() or not REPRICE_PERCENT_MIN <= percent <= REPRICE_PERCENT_MAX:
        raise BulkEditError(
            f"The percentage must be between {REPRICE_PERCENT_MIN} and {REPRICE_PERCENT_MAX}."
        )
    books, _ = _books_locked(tenant=tenant, book_ids=book_ids)
    new_price = Greatest(
        Round(F("price") * Value(Decimal(100) + percent) / Value(Decimal(100)), 2),
        Value(Decimal("0.00")),
    )
    try:
        with transaction.atomic():
            return books.update(price=new_price)
    except DataError:  # numeric(10, 2) overflow
        raise BulkEditError("A new price would exceed the largest price allowed.") from None


@takes_locks("catalog_book")
@transaction.atomic
def books_restock(*, tenant: Tenant, book_ids: Sequence[uuid.UUID], quantity: int) -> int:
    """Add ``quantity`` to each book's stock in one UPDATE; returns the number of books.

    All or none: if a book would pass MAX_STOCK (the API's cap, which keeps a restoring
    cancellation clear of integer overflow), nothing changes."""
    if not 1 <= quantity <= RESTOCK_MAX:
        raise BulkEditError(f"The quantity must be between 1 and {RESTOCK_MAX}.")
    books, locked = _books_locked(tenant=tenant, book_ids=book_ids)
    updated = books.filter(stock__lte=MAX_STOCK - quantity).update(stock=F("stock") + quantity)
    if updated != locked:  # raising rolls the UPDATE back
        raise BulkEditError(f"A book's stock would pass {MAX_STOCK:,}; no stock changed.")
    return updated
