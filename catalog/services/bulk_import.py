"""The onboarding import: many books per request, upserted by ISBN, in a fixed number of
queries whatever the number of rows."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction

from catalog.models import Author, Book, Genre, Publisher
from catalog.services.books import book_genres_replace, is_isbn_conflict
from catalog.services.errors import IsbnTakenError
from catalog.services.search_documents import book_search_documents_refresh
from perf.locks import takes_locks
from tenants.models import Tenant
from tenants.querysets import TenantScopedQuerySet

# --- Bulk import -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookImportRow:
    isbn: str
    title: str
    price: Decimal
    author: str
    publisher: str
    # For the fields below, None (left out of the row) keeps an existing book's value;
    # a new book then gets 0 copies, no date, an empty description, no genres.
    stock: int | None = None
    genres: Sequence[str] | None = None
    published_on: dt.date | None = None
    published_on_given: bool = False  # an explicit null clears the date
    description: str | None = None


@dataclass(frozen=True, slots=True)
class BookImportOutcome:
    id: uuid.UUID
    isbn: str
    created: bool


@dataclass(frozen=True, slots=True)
class BookImportResult:
    created: int
    updated: int
    books: list[BookImportOutcome]


# One import at a time per tenant: authors and publishers have no unique name, so two
# concurrent imports would otherwise both create "Jane Doe".
_IMPORT_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"

_ROWS = """unnest(%s::text[], %s::text[], %s::numeric[], %s::integer[], %s::uuid[], %s::uuid[],
            %s::date[], %s::boolean[], %s::text[])
     AS r(title, isbn, price, stock, author_id, publisher_id, published_on,
          published_on_given, description)"""

# Fields a row leaves out (NULL here) keep their value.
# Only the constant _ROWS fragment is interpolated (S608 is a false positive here).
_UPDATE_SQL = f"""
UPDATE catalog_book AS b SET
    title = r.title,
    price = r.price,
    stock = COALESCE(r.stock, b.stock),
    author_id = r.author_id,
    publisher_id = r.publisher_id,
    published_on = CASE WHEN r.published_on_given THEN r.published_on ELSE b.published_on END,
    description = COALESCE(r.description, b.description)
FROM {_ROWS}
WHERE b.tenant_id = %s AND b.isbn = r.isbn
"""  # noqa: S608

_INSERT_SQL = f"""
INSERT INTO catalog_book
    (id, tenant_id, title, isbn, price, stock, author_id, publisher_id, published_on,
     description)
SELECT gen_random_uuid(), %s, r.title, r.isbn, r.price, COALESCE(r.stock, 0), r.author_id,
       r.publisher_id, r.published_on, COALESCE(r.description, '')
FROM {_ROWS}
RETURNING id, isbn
"""  # noqa: S608


def _row_arrays(
    rows: Sequence[BookImportRow],
    author_ids: dict[str, uuid.UUID],
    publisher_ids: dict[str, uuid.UUID],
) -> list[list[Any]]:
    return [
        [row.title for row in rows],
        [row.isbn for row in rows],
        [row.price for row in rows],
        [row.stock for row in rows],
        [author_ids[row.author] for row in rows],
        [publisher_ids[row.publisher] for row in rows],
        [row.published_on for row in rows],
        [row.published_on_given for row in rows],
        [row.description for row in rows],
    ]


def _ids_by_name[Named: (Author, Publisher, Genre)](
    queryset: TenantScopedQuerySet[Named],
    model: type[Named],
    *,
    tenant: Tenant,
    names: Iterable[str],
) -> dict[str, uuid.UUID]:
    """Ids of the named rows, creating the missing ones: at most two queries.

    Author and publisher names are not unique; the oldest-id match wins, consistently."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return {}
    ids: dict[str, uuid.UUID] = {}
    for pk, name in (
        queryset.filter(name__in=wanted).order_by("name", "id").values_list("id", "name")
    ):
        ids.setdefault(name, pk)
    missing = [model(tenant_id=tenant.id, name=name) for name in wanted if name not in ids]
    model._default_manager.bulk_create(missing)
    ids.update((row.name, row.id) for row in missing)
    return ids


@takes_locks("advisory", "catalog_book")
@transaction.atomic
def books_bulk_upsert(*, tenant: Tenant, rows: Sequence[BookImportRow]) -> BookImportResult:
    """Insert or update books by ISBN, creating missing authors, publishers and genres by
    name; all or nothing. The query count does not depend on the number of rows."""
    with connection.cursor() as cursor:
        cursor.execute(_IMPORT_LOCK_SQL, [f"catalog.import:{tenant.id}"])
    author_ids = _ids_by_name(
        Author.objects.for_tenant(tenant),
        Author,
        tenant=tenant,
        names=(row.author for row in rows),
    )
    publisher_ids = _ids_by_name(
        Publisher.objects.for_tenant(tenant),
        Publisher,
        tenant=tenant,
        names=(row.publisher for row in rows),
    )
    genre_ids = _ids_by_name(
        Genre.objects.for_tenant(tenant),
        Genre,
        tenant=tenant,
        names=(name for row in rows for name in row.genres or ()),
    )
    with connection.cursor() as cursor:
        # Both statements run whatever the mix of new and existing rows: the query count
        # never depends on the data.
        # Existing rows are locked in id order before they are written, as every writer
        # of books locks them, so an import and an order cannot deadlock.
        existing = dict(
            Book.objects.for_tenant(tenant)
            .filter(isbn__in=[row.isbn for row in rows])
            .lock_in_id_order()
            .values_list("isbn", "pk")
        )
        updates = [row for row in rows if row.isbn in existing]
        inserts = [row for row in rows if row.isbn not in existing]
        cursor.execute(_UPDATE_SQL, [*_row_arrays(updates, author_ids, publisher_ids), tenant.id])
        try:
            cursor.execute(
                _INSERT_SQL, [tenant.id, *_row_arrays(inserts, author_ids, publisher_ids)]
            )
        except IntegrityError as exc:
            # A book created by another request meanwhile; the whole import rolls back.
            if is_isbn_conflict(exc):
                raise IsbnTakenError("An ISBN of this import was added meanwhile; retry.") from None
            raise
        inserted = {isbn: pk for pk, isbn in cursor.fetchall()}
    returned = [(pk, isbn, False) for isbn, pk in existing.items()]
    returned += [(pk, isbn, True) for isbn, pk in inserted.items()]
    outcome_by_isbn = {
        isbn: BookImportOutcome(pk, isbn, inserted) for pk, isbn, inserted in returned
    }
    book_genres_replace(
        tenant=tenant,
        genre_ids_by_book={
            outcome_by_isbn[row.isbn].id: [genre_ids[name] for name in row.genres]
            for row in rows
            if row.genres is not None
        },
    )
    book_search_documents_refresh(
        tenant=tenant, book_ids=[outcome.id for outcome in outcome_by_isbn.values()]
    )
    books = [outcome_by_isbn[row.isbn] for row in rows]
    created = sum(outcome.created for outcome in books)
    return BookImportResult(created=created, updated=len(books) - created, books=books)
