"""One book or author at a time: create, update, delete, rename."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from catalog.models import Author, Book, BookGenre, Genre, Publisher
from catalog.services.errors import BookInUseError, CatalogReferenceError, IsbnTakenError
from catalog.services.search_documents import (
    author_search_documents_refresh,
    book_search_documents_refresh,
)
from perf.locks import takes_locks
from tenants.models import Tenant

# --- Single books ------------------------------------------------------------------------

_BOOK_ISBN_CONSTRAINT = "book_tenant_isbn_uniq"
# Changing any of these changes the search document.
_SEARCH_SOURCE_FIELDS = frozenset({"title", "description", "author_id"})
_UPDATABLE_FIELDS = frozenset(
    {"title", "isbn", "price", "stock", "author_id", "publisher_id", "published_on", "description"}
)


def is_isbn_conflict(exc: IntegrityError) -> bool:
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
        Author.objects.for_tenant(tenant).filter(pk=author_id).exists()
    ):
        unknown["author_id"] = [f"Unknown author {author_id}."]
    if publisher_id is not None and not (
        Publisher.objects.for_tenant(tenant).filter(pk=publisher_id).exists()
    ):
        unknown["publisher_id"] = [f"Unknown publisher {publisher_id}."]
    if genre_ids:
        found = set(
            Genre.objects.for_tenant(tenant).filter(pk__in=genre_ids).values_list("id", flat=True)
        )
        missing = [str(genre_id) for genre_id in genre_ids if genre_id not in found]
        if missing:
            unknown["genre_ids"] = [f"Unknown genre {genre_id}." for genre_id in missing]
    if unknown:
        raise CatalogReferenceError("Unknown related objects.", details=unknown)


@takes_locks()
def book_genres_replace(
    *, tenant: Tenant, genre_ids_by_book: Mapping[uuid.UUID, Sequence[uuid.UUID]]
) -> None:
    """Make each listed book's genres exactly the given ones: two queries for any number."""
    if not genre_ids_by_book:
        return
    BookGenre.objects.for_tenant(tenant).filter(book_id__in=list(genre_ids_by_book)).delete()
    BookGenre.objects.bulk_create(
        BookGenre(tenant_id=tenant.id, book_id=book_id, genre_id=genre_id)
        for book_id, genre_ids in genre_ids_by_book.items()
        for genre_id in dict.fromkeys(genre_ids)
    )


@takes_locks()
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
        if is_isbn_conflict(exc):
            raise IsbnTakenError(f"ISBN {isbn} is already in the catalog.") from None
        raise
    if genre_ids:
        book_genres_replace(tenant=tenant, genre_ids_by_book={book.id: genre_ids})
    book_search_documents_refresh(tenant=tenant, book_ids=[book.id])
    return book


@takes_locks()
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
    books = Book.objects.for_tenant(tenant).filter(pk=book_id)
    if changes:
        try:
            with transaction.atomic():
                updated = books.update(**changes)
        except IntegrityError as exc:
            if is_isbn_conflict(exc):
                raise IsbnTakenError(f"ISBN {changes['isbn']} is already in the catalog.") from None
            raise
    else:
        updated = int(books.exists())
    if not updated:
        raise Book.DoesNotExist(f"No book {book_id}")
    if genre_ids is not None:
        book_genres_replace(tenant=tenant, genre_ids_by_book={book_id: genre_ids})
    if _SEARCH_SOURCE_FIELDS & set(changes):
        book_search_documents_refresh(tenant=tenant, book_ids=[book_id])


@takes_locks("catalog_book")
@transaction.atomic
def book_delete(*, tenant: Tenant, book_id: uuid.UUID) -> None:
    books = Book.objects.for_tenant(tenant).filter(pk=book_id)
    # Lock first: an order placed meanwhile holds this row until it commits, and its
    # items then reference the book. After the lock, the PROTECT check sees them.
    if not books.lock_in_id_order().values_list("pk", flat=True):
        raise Book.DoesNotExist(f"No book {book_id}")
    in_use = BookInUseError("Orders refer to this book; it cannot be deleted.")
    try:
        books.delete()
    except ProtectedError:
        raise in_use from None
    except IntegrityError:  # the foreign key itself, should the check have been raced
        raise in_use from None


@takes_locks()
@transaction.atomic
def author_rename(*, tenant: Tenant, author_id: uuid.UUID, name: str) -> None:
    """Rename an author and rebuild the search documents of their books (the author's
    name is part of each), in two UPDATEs. Unknown or another tenant's author:
    Author.DoesNotExist."""
    updated = Author.objects.for_tenant(tenant).filter(pk=author_id).update(name=name)
    if not updated:
        raise Author.DoesNotExist(f"No author {author_id}")
    author_search_documents_refresh(tenant=tenant, author_id=author_id)
