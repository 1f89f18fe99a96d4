"""Scoped querysets for the catalog: ``BookQuerySet(Book).for_tenant(t).with_list_relations()``.

Each relation bundle names what a use case loads (select_related, prefetch, only) and sets
the profile's fetch mode (perf.fetch): FETCH_RAISE in dev and tests, so a serializer that
touches anything else fails at that line; FETCH_PEERS in staging and prod.
"""

from __future__ import annotations

from typing import Any, Self

from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F, OuterRef, Prefetch, QuerySet
from django.db.models.expressions import Col
from django.db.models.lookups import Exact

from catalog.models import Author, Book, BookGenre, Genre, Publisher, TenantBookCount
from perf.fetch import bundle_fetch_mode
from tenants.querysets import TenantScopedQuerySet

# The catalog order: the index book_tenant_title_id serves it, tie-break included.
BOOK_CATALOG_ORDER = ("title", "id")
# Orderings served by an index that leads with tenant_id, each with the id tie-break.
BOOK_ORDERINGS = {
    "title": ("title", "id"),
    "-title": ("-title", "-id"),
    "price": ("price", "id"),
    "-price": ("-price", "-id"),
}
BOOK_LIST_FIELDS = (
    "id",
    "title",
    "isbn",
    "price",
    "stock",
    "published_on",
    "author__id",
    "author__name",
    "publisher__id",
    "publisher__name",
)
# Where the genres prefetch puts each book's genres (a list, in name order).
GENRE_LIST_ATTR = "genre_list"
SEARCH_CONFIG = "english"  # the configuration catalog.services builds documents with


class AuthorQuerySet(TenantScopedQuerySet[Author]):
    def by_name(self) -> Self:
        return self.order_by("name", "id").only("id", "name").fetch_mode(bundle_fetch_mode())


class PublisherQuerySet(TenantScopedQuerySet[Publisher]):
    def by_name(self) -> Self:
        return self.order_by("name", "id").only("id", "name").fetch_mode(bundle_fetch_mode())


class GenreQuerySet(TenantScopedQuerySet[Genre]):
    pass


class BookGenreQuerySet(TenantScopedQuerySet[BookGenre]):
    pass


class BookQuerySet(TenantScopedQuerySet[Book]):
    def _genres_prefetch(self) -> Prefetch[Any]:
        """The genres of every book of the page in one query, as a plain list on each book
        (``book.genre_list``): ``to_attr`` skips building a related manager and a filtered
        queryset per book, which cost more than the query itself on a 50-row page."""
        genres = GenreQuerySet(Genre).for_tenant_id(self._require_scope())
        return Prefetch(
            "genres", queryset=genres.only("id", "name").order_by("name"), to_attr=GENRE_LIST_ATTR
        )

    def with_list_relations(self) -> Self:
        """A catalog row: author and publisher joined, genres in one extra query per page,
        no description or search document."""
        return (
            self.select_related("author", "publisher")
            .only(*BOOK_LIST_FIELDS)
            .prefetch_related(self._genres_prefetch())
            .fetch_mode(bundle_fetch_mode())
        )

    def with_detail_relations(self) -> Self:
        return (
            self.select_related("author", "publisher")
            .defer("search_document")
            .prefetch_related(self._genres_prefetch())
            .fetch_mode(bundle_fetch_mode())
        )

    def count(self) -> int:
        """The tenant's whole catalog is counted by the triggers (TenantBookCount): one
        primary-key read instead of COUNT(*) over every book. Anything narrower (a filter,
        a search, a slice, DISTINCT, GROUP BY) is counted by PostgreSQL as before."""
        if self._result_cache is None and self._is_whole_catalog():
            counts = TenantBookCount.objects.filter(tenant_id=self._require_scope())
            return next(iter(counts.values_list("books", flat=True)[:1]), 0)
        return super().count()

    def _is_whole_catalog(self) -> bool:
        query = self.query
        if (
            self._scoped_tenant_id is None
            or query.is_sliced
            or query.distinct
            or query.combinator
            or query.group_by is not None
            or query.where.negated
            or len(query.where.children) != 1
        ):
            return False
        [lookup] = query.where.children
        return (
            isinstance(lookup, Exact)
            and isinstance(lookup.lhs, Col)
            and lookup.lhs.target.attname == "tenant_id"
            and lookup.lhs.target.model is Book
            and lookup.rhs == self._scoped_tenant_id
        )

    def in_catalog_order(self) -> Self:
        return self.order_by(*BOOK_CATALOG_ORDER)

    def matching(self, text: str) -> Self:
        """Full-text match (websearch syntax), best first. The GIN index
        book_tenant_search_gin answers ``tenant_id = X AND search_document @@ q``."""
        query = SearchQuery(text, search_type="websearch", config=SEARCH_CONFIG)
        return (
            self.filter(search_document=query)
            .annotate(rank=SearchRank(F("search_document"), query))
            .order_by("-rank", *BOOK_CATALOG_ORDER)
        )

    def export_rows(self) -> QuerySet[Book, tuple[Any, ...]]:
        """Flat tuples for the export, genres folded into an array per row (no GROUP BY,
        so rows stream in catalog order straight off the index)."""
        genres = ArraySubquery(
            BookGenre.objects.filter(book_id=OuterRef("pk"))
            .order_by("genre__name")
            .values("genre__name")
        )
        return (
            self.in_catalog_order()
            .annotate(genre_names=genres)
            .values_list(
                "id",
                "isbn",
                "title",
                "price",
                "stock",
                "published_on",
                "author__name",
                "publisher__name",
                "genre_names",
                "description",
            )
        )
