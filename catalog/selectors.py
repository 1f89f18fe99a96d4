"""Every catalog read; each takes the tenant first and decides what it loads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import cache
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.db.models import BigIntegerField, F, QuerySet
from django.db.models.functions import Coalesce

from catalog.models import Author, Book, Publisher
from catalog.querysets import AuthorQuerySet, BookQuerySet, PublisherQuerySet
from tenants.models import Tenant

EXPORT_CHUNK_SIZE = 2000


def _books(tenant: Tenant) -> BookQuerySet:
    return Book.objects.for_tenant(tenant)


@cache
def _book_rows() -> BookQuerySet:
    """The catalog row shape (``BookQuerySet.with_list_rows``), unscoped, built once per
    process: composing its four subqueries was a third of a catalog page's Python time,
    and each request only needs to scope and order a copy. Querysets are immutable under
    chaining, and this one cannot be evaluated itself (no tenant: UnscopedQueryError).
    (Figures: docs/performance.md, "Levers, second set: where the remaining Python went".)"""
    return Book.objects.with_list_rows()


def book_list(*, tenant: Tenant) -> BookQuerySet:
    """Catalog rows (dicts, ``BookQuerySet.with_list_rows``) in catalog order."""
    return _book_rows().for_tenant(tenant).in_catalog_order()


def book_get(*, tenant: Tenant, book_id: uuid.UUID) -> Book:
    """Raises Book.DoesNotExist for unknown ids and for other tenants' books alike."""
    return _books(tenant).with_detail_relations().get(pk=book_id)


def book_search(*, tenant: Tenant, text: str) -> BookQuerySet:
    return _book_rows().for_tenant(tenant).matching(text)


def books_to_enrich(
    *, tenant: Tenant, after_id: uuid.UUID | None, limit: int, recheck: bool = False
) -> dict[str, uuid.UUID]:
    """The next ``limit`` books (ISBN to id) in id order after ``after_id`` that the
    book-metadata service has not answered about yet (all of them with ``recheck``): one
    batch of ``manage.py enrich_books``."""
    books = _books(tenant).order_by("pk")
    if not recheck:
        books = books.filter(metadata_checked_at__isnull=True)
    if after_id is not None:
        books = books.filter(pk__gt=after_id)
    return dict(books.values_list("isbn", "pk")[:limit])


def books_to_enrich_count(*, tenant: Tenant, recheck: bool = False) -> int:
    books = _books(tenant)
    if not recheck:
        books = books.filter(metadata_checked_at__isnull=True)
    return books.count()


def book_export_rows(*, tenant: Tenant) -> Iterator[tuple[Any, ...]]:
    """The tenant's catalog as tuples, from a server-side cursor in flat memory.

    Inside a transaction the cursor is a plain one; in autocommit Django would declare it
    WITH HOLD, which makes PostgreSQL materialize the whole result at the first commit.
    Closing the generator early (client gone) rolls the read-only transaction back.

    The database (a read replica, when the request may use one) is chosen now, in the
    request: the rows are read later, while the response streams.
    """
    return _export_rows(tenant, router.db_for_read(Book) or DEFAULT_DB_ALIAS)


def _export_rows(tenant: Tenant, alias: str) -> Iterator[tuple[Any, ...]]:
    with transaction.atomic(using=alias):
        _set_local(settings.DB_EXPORT_TIMEOUTS_MS, alias)
        books = _books(tenant).using(alias).export_rows()
        yield from books.iterator(chunk_size=EXPORT_CHUNK_SIZE)


def _set_local(settings_ms: dict[str, int], alias: str = DEFAULT_DB_ALIAS) -> None:
    """SET LOCAL: for the current transaction only (safe under PgBouncer's transaction
    pooling), raising the connection's request limits for one long read."""
    calls = ", ".join(["set_config(%s, %s, true)"] * len(settings_ms))
    params = [item for name, ms in settings_ms.items() for item in (name, str(ms))]
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT {calls}", params)


def tenants_by_size() -> QuerySet[Tenant]:
    """Tenants, each annotated with ``n_books``, largest first (slug breaks ties): read
    from the trigger-kept counter (TenantBookCount), not by counting every book. A tenant
    without a counter row has no books."""
    books = Coalesce(F("book_count__books"), 0, output_field=BigIntegerField())
    return Tenant.objects.annotate(n_books=books).order_by("-n_books", "slug")


def author_list(*, tenant: Tenant) -> AuthorQuerySet:
    return Author.objects.for_tenant(tenant).by_name()


def author_get(*, tenant: Tenant, author_id: uuid.UUID) -> Author:
    return author_list(tenant=tenant).get(pk=author_id)


def publisher_list(*, tenant: Tenant) -> PublisherQuerySet:
    return Publisher.objects.for_tenant(tenant).by_name()


def publisher_get(*, tenant: Tenant, publisher_id: uuid.UUID) -> Publisher:
    return publisher_list(tenant=tenant).get(pk=publisher_id)
