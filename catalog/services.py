"""Writes for the catalog."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import F, ProtectedError, Value
from django.db.models.functions import Greatest, Round

from catalog.models import MAX_STOCK, Author, Book, BookGenre, Genre, Publisher
from catalog.querysets import (
    AuthorQuerySet,
    BookGenreQuerySet,
    BookQuerySet,
    GenreQuerySet,
    PublisherQuerySet,
)
from tenants.errors import ServiceError
from tenants.models import Tenant
from tenants.querysets import TenantScopedQuerySet

# Title weighs most, then the author's name, then the description. Keep in step with the
# query side (catalog search) which uses the same 'english' configuration.
_SEARCH_DOCUMENT_SQL = """
UPDATE catalog_book AS b
SET search_document =
      setweight(to_tsvector('english', b.title), 'A')
   || setweight(to_tsvector('english', a.name), 'B')
   || setweight(to_tsvector('english', b.description), 'C')
FROM catalog_author AS a
WHERE a.id = b.author_id AND b.tenant_id = %s AND a.tenant_id = %s
"""


def book_search_documents_refresh(
    *, tenant: Tenant, book_ids: Sequence[uuid.UUID] | None = None
) -> int:
    """Recompute the full-text document of the tenant's books (all, or ``book_ids``).

    One UPDATE whatever the number of books. Returns the number of rows updated.
    """
    sql = _SEARCH_DOCUMENT_SQL
    params: list[Any] = [tenant.id, tenant.id]
    if book_ids is not None:
        sql += " AND b.id = ANY(%s)"
        params.append(list(book_ids))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


# --- Errors ------------------------------------------------------------------------------


class CatalogError(ServiceError):
    code = "catalog_error"


class CatalogReferenceError(CatalogError):
    """An author, publisher or genre id that this tenant does not have."""

    code = "unknown_reference"


class IsbnTakenError(CatalogError):
    code = "isbn_taken"


class BookInUseError(CatalogError):
    """Orders refer to the book, so it cannot be deleted."""

    code = "book_in_use"


# --- Single books ------------------------------------------------------------------------

_BOOK_ISBN_CONSTRAINT = "book_tenant_isbn_uniq"
# Changing any of these changes the search document.
_SEARCH_SOURCE_FIELDS = frozenset({"title", "description", "author_id"})
_UPDATABLE_FIELDS = frozenset(
    {"title", "isbn", "price", "stock", "author_id", "publisher_id", "published_on", "description"}
)


def _is_isbn_conflict(exc: IntegrityError) -> bool:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == _BOOK_ISBN_CONSTRAINT


def _references_check(
    *,
    tenant: Tenant,
    author_id: uuid.UUID | None = None,
    publisher_id: uuid.UUID | None = None,
    genre_ids: Sequence[uuid.UUID] = (),
) -> None:
    """Other tenants' ids are unknown ids: one query per kind of reference given."""
    unknown: dict[str, list[str]] = {}
    if author_id is not None and not (
        AuthorQuerySet(Author).for_tenant(tenant).filter(pk=author_id).exists()
    ):
        unknown["author_id"] = [f"Unknown author {author_id}."]
    if publisher_id is not None and not (
        PublisherQuerySet(Publisher).for_tenant(tenant).filter(pk=publisher_id).exists()
    ):
        unknown["publisher_id"] = [f"Unknown publisher {publisher_id}."]
    if genre_ids:
        found = set(
            GenreQuerySet(Genre)
            .for_tenant(tenant)
            .filter(pk__in=genre_ids)
            .values_list("id", flat=True)
        )
        missing = [str(genre_id) for genre_id in genre_ids if genre_id not in found]
        if missing:
            unknown["genre_ids"] = [f"Unknown genre {genre_id}." for genre_id in missing]
    if unknown:
        raise CatalogReferenceError("Unknown related objects.", details=unknown)


def _book_genres_replace(
    *, tenant: Tenant, genre_ids_by_book: Mapping[uuid.UUID, Sequence[uuid.UUID]]
) -> None:
    """Make each listed book's genres exactly the given ones: two queries for any number."""
    if not genre_ids_by_book:
        return
    BookGenreQuerySet(BookGenre).for_tenant(tenant).filter(
        book_id__in=list(genre_ids_by_book)
    ).delete()
    BookGenre.objects.bulk_create(
        BookGenre(tenant_id=tenant.id, book_id=book_id, genre_id=genre_id)
        for book_id, genre_ids in genre_ids_by_book.items()
        for genre_id in dict.fromkeys(genre_ids)
    )


@transaction.atomic
def book_create(
    *,
    tenant: Tenant,
    title: str,
    isbn: str,
    price: Decimal,
    author_id: uuid.UUID,
    publisher_id: uuid.UUID,
    stock: int = 0,
    genre_ids: Sequence[uuid.UUID] = (),
    published_on: dt.date | None = None,
    description: str = "",
) -> Book:
    _references_check(
        tenant=tenant, author_id=author_id, publisher_id=publisher_id, genre_ids=genre_ids
    )
    book = Book(
        tenant=tenant,
        title=title,
        isbn=isbn,
        price=price,
        stock=stock,
        author_id=author_id,
        publisher_id=publisher_id,
        published_on=published_on,
        description=description,
    )
    try:
        with transaction.atomic():
            book.save(force_insert=True)
    except IntegrityError as exc:
        if _is_isbn_conflict(exc):
            raise IsbnTakenError(f"ISBN {isbn} is already in the catalog.") from None
        raise
    if genre_ids:
        _book_genres_replace(tenant=tenant, genre_ids_by_book={book.id: genre_ids})
    book_search_documents_refresh(tenant=tenant, book_ids=[book.id])
    return book


@transaction.atomic
def book_update(*, tenant: Tenant, book_id: uuid.UUID, **changes: Any) -> None:
    """Change the given fields (``genre_ids`` replaces the genres). Unknown or another
    tenant's book: Book.DoesNotExist."""
    genre_ids = changes.pop("genre_ids", None)
    if unexpected := set(changes) - _UPDATABLE_FIELDS:
        raise TypeError(f"book_update() got unexpected fields {sorted(unexpected)}")
    _references_check(
        tenant=tenant,
        author_id=changes.get("author_id"),
        publisher_id=changes.get("publisher_id"),
        genre_ids=genre_ids or (),
    )
    books = BookQuerySet(Book).for_tenant(tenant).filter(pk=book_id)
    if changes:
        try:
            with transaction.atomic():
                updated = books.update(**changes)
        except IntegrityError as exc:
            if _is_isbn_conflict(exc):
                raise IsbnTakenError(f"ISBN {changes['isbn']} is already in the catalog.") from None
            raise
    else:
        updated = int(books.exists())
    if not updated:
        raise Book.DoesNotExist(f"No book {book_id}")
    if genre_ids is not None:
        _book_genres_replace(tenant=tenant, genre_ids_by_book={book_id: genre_ids})
    if _SEARCH_SOURCE_FIELDS & set(changes):
        book_search_documents_refresh(tenant=tenant, book_ids=[book_id])


@transaction.atomic
def book_delete(*, tenant: Tenant, book_id: uuid.UUID) -> None:
    books = BookQuerySet(Book).for_tenant(tenant).filter(pk=book_id)
    # Lock first: an order placed meanwhile holds this row until it commits, and its
    # items then reference the book. After the lock, the PROTECT check sees them.
    if not books.select_for_update().values_list("pk", flat=True):
        raise Book.DoesNotExist(f"No book {book_id}")
    in_use = BookInUseError("Orders refer to this book; it cannot be deleted.")
    try:
        books.delete()
    except ProtectedError:
        raise in_use from None
    except IntegrityError:  # the foreign key itself, should the check have been raced
        raise in_use from None


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

# Existing rows are locked in id order before they are written, like order placement
# and cancellation do, so an import and an order touching the same books cannot deadlock.
_LOCK_EXISTING_SQL = """
SELECT id, isbn FROM catalog_book WHERE tenant_id = %s AND isbn = ANY(%s)
ORDER BY id FOR UPDATE
"""

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


@transaction.atomic
def books_bulk_upsert(*, tenant: Tenant, rows: Sequence[BookImportRow]) -> BookImportResult:
    """Insert or update books by ISBN, creating missing authors, publishers and genres by
    name; all or nothing. The query count does not depend on the number of rows."""
    with connection.cursor() as cursor:
        cursor.execute(_IMPORT_LOCK_SQL, [f"catalog.import:{tenant.id}"])
    author_ids = _ids_by_name(
        AuthorQuerySet(Author).for_tenant(tenant),
        Author,
        tenant=tenant,
        names=(row.author for row in rows),
    )
    publisher_ids = _ids_by_name(
        PublisherQuerySet(Publisher).for_tenant(tenant),
        Publisher,
        tenant=tenant,
        names=(row.publisher for row in rows),
    )
    genre_ids = _ids_by_name(
        GenreQuerySet(Genre).for_tenant(tenant),
        Genre,
        tenant=tenant,
        names=(name for row in rows for name in row.genres or ()),
    )
    with connection.cursor() as cursor:
        # Both statements run whatever the mix of new and existing rows: the query count
        # never depends on the data.
        cursor.execute(_LOCK_EXISTING_SQL, [tenant.id, [row.isbn for row in rows]])
        existing = {isbn: pk for pk, isbn in cursor.fetchall()}
        updates = [row for row in rows if row.isbn in existing]
        inserts = [row for row in rows if row.isbn not in existing]
        cursor.execute(_UPDATE_SQL, [*_row_arrays(updates, author_ids, publisher_ids), tenant.id])
        try:
            cursor.execute(
                _INSERT_SQL, [tenant.id, *_row_arrays(inserts, author_ids, publisher_ids)]
            )
        except IntegrityError as exc:
            # A book created by another request meanwhile; the whole import rolls back.
            if _is_isbn_conflict(exc):
                raise IsbnTakenError("An ISBN of this import was added meanwhile; retry.") from None
            raise
        inserted = {isbn: pk for pk, isbn in cursor.fetchall()}
    returned = [(pk, isbn, False) for isbn, pk in existing.items()]
    returned += [(pk, isbn, True) for isbn, pk in inserted.items()]
    outcome_by_isbn = {
        isbn: BookImportOutcome(pk, isbn, inserted) for pk, isbn, inserted in returned
    }
    _book_genres_replace(
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
    books = BookQuerySet(Book).for_tenant(tenant).filter(pk__in=list(book_ids))
    locked = list(books.order_by("pk").select_for_update().values_list("pk", flat=True))
    return books, len(locked)


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


_AUTHOR_SEARCH_DOCUMENTS_SQL = _SEARCH_DOCUMENT_SQL + " AND a.id = %s"


@transaction.atomic
def author_rename(*, tenant: Tenant, author_id: uuid.UUID, name: str) -> None:
    """Rename an author and rebuild the search documents of their books (the author's
    name is part of each), in two UPDATEs. Unknown or another tenant's author:
    Author.DoesNotExist."""
    updated = AuthorQuerySet(Author).for_tenant(tenant).filter(pk=author_id).update(name=name)
    if not updated:
        raise Author.DoesNotExist(f"No author {author_id}")
    with connection.cursor() as cursor:
        cursor.execute(_AUTHOR_SEARCH_DOCUMENTS_SQL, [tenant.id, tenant.id, author_id])
