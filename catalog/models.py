from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models

from catalog.isbn import ISBN_MAX_LENGTH
from catalog.querysets import (
    AuthorQuerySet,
    BookGenreQuerySet,
    BookQuerySet,
    GenreQuerySet,
    PublisherQuerySet,
)
from tenants.models import Tenant

# The most copies a book may have: far below PostgreSQL's integer limit, so that
# restoring a cancelled order's copies can never overflow the column. The API's
# validation and the admin's restock both enforce it.
MAX_STOCK = 1_000_000


def _tenant_fk(related_name: str) -> models.ForeignKey[Tenant, Tenant]:
    # No single-column index: every index serving a tenant query leads with tenant_id.
    return models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name=related_name, db_index=False
    )


class Author(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = _tenant_fk("authors")
    name = models.CharField(max_length=200)

    objects = AuthorQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["tenant", "name", "id"], name="author_tenant_name_id")]

    def __str__(self) -> str:
        return self.name


class Publisher(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = _tenant_fk("publishers")
    name = models.CharField(max_length=200)

    objects = PublisherQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["tenant", "name", "id"], name="publisher_tenant_name_id")]

    def __str__(self) -> str:
        return self.name


class Genre(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = _tenant_fk("genres")
    name = models.CharField(max_length=100)

    objects = GenreQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="genre_tenant_name_uniq")
        ]

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = _tenant_fk("books")
    title = models.CharField(max_length=300)
    isbn = models.CharField(max_length=ISBN_MAX_LENGTH)  # compact: catalog.isbn
    price = models.DecimalField(max_digits=10, decimal_places=2)
    stock = models.IntegerField(default=0)
    # db_index off: book_tenant_author / book_tenant_publisher lead with tenant_id.
    author = models.ForeignKey(
        Author, on_delete=models.PROTECT, related_name="books", db_index=False
    )
    publisher = models.ForeignKey(
        Publisher, on_delete=models.PROTECT, related_name="books", db_index=False
    )
    published_on = models.DateField(null=True, blank=True)
    description = models.TextField(blank=True, default="")
    genres = models.ManyToManyField(Genre, through="BookGenre", related_name="books")
    # Weighted title (A), author name (B), description (C); maintained by
    # catalog.services.book_search_documents_refresh, since it spans the author table.
    search_document = SearchVectorField(null=True, editable=False)
    # From the book-metadata service (catalog.metadata), written only by
    # catalog.services.books_metadata_save; NULL until a lookup found them. The detail
    # shows them, catalog rows do not fetch them (BOOK_ROW_NEVER_FETCHES).
    # NULL, not "": unknown, like the two fields below (the API says null for all three).
    cover_url = models.CharField(  # noqa: DJ001
        max_length=500, null=True, blank=True, editable=False
    )
    page_count = models.PositiveIntegerField(null=True, blank=True, editable=False)
    subjects = ArrayField(models.CharField(max_length=100), null=True, blank=True, editable=False)
    # When the service last answered about this book (found or not): manage.py
    # enrich_books skips these. NULL: never asked, or every attempt failed.
    metadata_checked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = BookQuerySet.as_manager()

    class Meta:
        indexes = [
            # Catalog order with its tie-break: a page is an index range, no sort step.
            models.Index(fields=["tenant", "title", "id"], name="book_tenant_title_id"),
            models.Index(fields=["tenant", "author"], name="book_tenant_author"),
            models.Index(fields=["tenant", "publisher"], name="book_tenant_publisher"),
            models.Index(fields=["tenant", "price", "id"], name="book_tenant_price_id"),
            # btree_gin lets one GIN index answer tenant_id = X AND document @@ query.
            GinIndex(fields=["tenant", "search_document"], name="book_tenant_search_gin"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "isbn"], name="book_tenant_isbn_uniq"),
            models.CheckConstraint(condition=models.Q(stock__gte=0), name="book_stock_gte_0"),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="book_price_gte_0"),
        ]

    def __str__(self) -> str:
        return self.title


class BookGenre(models.Model):
    """Explicit through table so that it carries tenant_id like every tenant-owned table."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = _tenant_fk("book_genres")
    book = models.ForeignKey(Book, on_delete=models.CASCADE, db_index=False)
    genre = models.ForeignKey(Genre, on_delete=models.CASCADE)

    objects = BookGenreQuerySet.as_manager()

    class Meta:
        constraints = [
            # Also the index for prefetching a page's genres by book_id.
            models.UniqueConstraint(fields=["book", "genre"], name="bookgenre_book_genre_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.book_id} in {self.genre_id}"


class TenantBookCount(models.Model):
    """How many books a tenant has, kept exact by PostgreSQL triggers on catalog_book.

    The catalog's numbered pages report an exact count; COUNT(*) over a 50,000-book
    catalog was the largest single cost of page 1. The triggers (migration 0002) add and
    subtract in the same transaction as the insert, delete or tenant change, whatever
    wrote it (services, admin, bulk import, raw SQL, COPY), and the upsert's row lock
    makes concurrent writers of one tenant add up one after the other. TRUNCATE of
    catalog_book empties this table. A tenant without a row has no books. Written only
    by the triggers; read by ``BookQuerySet.count()``. (Figures: docs/performance.md,
    "Levers (closing the gap, issue 10 part 3)".)
    """

    # No database constraint: raw SQL that deletes a tenant's rows (seed's reset) need not
    # know this table; a row left behind says 0 books of a tenant that is gone.
    tenant = models.OneToOneField(
        Tenant,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="book_count",
        db_constraint=False,
    )
    books = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.books}"
