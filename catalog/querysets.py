"""Scoped querysets for the catalog, each its model's default manager:
``Book.objects.for_tenant(t).with_list_rows()``.

Each bundle names what a use case loads. Rows rendered straight to JSON (the list, cursor
and search pages) are ``values()`` dicts; bundles of instances (select_related, prefetch,
only) set the profile's fetch mode (perf.fetch): FETCH_RAISE in dev and tests, so a
serializer that touches anything else fails at that line; FETCH_PEERS in staging and prod.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self, cast

from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connections
from django.db.models import F, OuterRef, Prefetch, QuerySet, Subquery

from perf.fetch import bundle_fetch_mode
from tenants.querysets import TenantScopedQuerySet

if TYPE_CHECKING:
    # catalog.models declares these querysets as its managers, so it imports this module
    # first; the models are read inside the methods, at query time.
    from catalog.models import Author, Book, BookGenre, Genre, Publisher  # noqa: F401

# The catalog order: the index book_tenant_title_id serves it, tie-break included.
BOOK_CATALOG_ORDER = ("title", "id")
# Orderings served by an index that leads with tenant_id, each with the id tie-break.
BOOK_ORDERINGS = {
    "title": ("title", "id"),
    "-title": ("-title", "-id"),
    "price": ("price", "id"),
    "-price": ("-price", "-id"),
}
# A book's own columns on a catalog row (no description or search document).
BOOK_ROW_COLUMNS = ("id", "title", "isbn", "price", "stock", "published_on")
# The book-metadata service's fields (catalog.services.enrichment writes them).
BOOK_METADATA_FIELDS = ("cover_url", "page_count", "subjects", "metadata_checked_at")
# What a catalog row never fetches: the heavy text columns (a description is up to a few
# kilobytes, the search document more) and the metadata service's fields (up to 20
# subjects), which the list, cursor and search pages do not render; the detail does.
# Their views declare it (query_budgets(never_fetches=...)) and their tests measure it
# (query_budget(forbid_columns=never_fetched(...))).
BOOK_ROW_NEVER_FETCHES = {
    "catalog_book": ("description", "search_document", *BOOK_METADATA_FIELDS),
}
# Where the genres prefetch puts each book's genres (a list, in name order).
GENRE_LIST_ATTR = "genre_list"
# A catalog row as ``with_list_rows()`` hands it over: one dict per book, these keys.
BOOK_ROW_FIELDS = (
    *BOOK_ROW_COLUMNS,
    "author_id",
    "author_name",
    "publisher_id",
    "publisher_name",
    "genre_ids",
    "genre_names",
)
SEARCH_CONFIG = "english"  # the configuration catalog.services builds documents with
_TENANT_BOOK_COUNT_SQL = "SELECT books FROM catalog_tenantbookcount WHERE tenant_id = %s"


def _search_query(text: str) -> SearchQuery:
    return SearchQuery(text, search_type="websearch", config=SEARCH_CONFIG)


class AuthorQuerySet(TenantScopedQuerySet["Author"]):
    def by_name(self) -> Self:
        return self.order_by("name", "id").only("id", "name").fetch_mode(bundle_fetch_mode())


class PublisherQuerySet(TenantScopedQuerySet["Publisher"]):
    def by_name(self) -> Self:
        return self.order_by("name", "id").only("id", "name").fetch_mode(bundle_fetch_mode())


class GenreQuerySet(TenantScopedQuerySet["Genre"]):
    pass


class BookGenreQuerySet(TenantScopedQuerySet["BookGenre"]):
    pass


class BookQuerySet(TenantScopedQuerySet["Book"]):
    def _genres_prefetch(self) -> Prefetch[Any]:
        """The genres of every book of the page in one query, as a plain list on each book
        (``book.genre_list``): ``to_attr`` skips building a related manager and a filtered
        queryset per book, which cost more than the query itself on a 50-row page
        (figures: docs/performance.md, "Levers (closing the gap, issue 10 part 3)")."""
        from catalog.models import Genre

        genres = Genre.objects.for_tenant_id(self._require_scope())
        return Prefetch(
            "genres", queryset=genres.only("id", "name").order_by("name"), to_attr=GENRE_LIST_ATTR
        )

    def with_list_rows(self) -> Self:
        """Catalog rows as plain dicts (``values()``, keys BOOK_ROW_FIELDS), one query per
        page: the author's and publisher's names and each book's genres (two arrays: ids
        and names, in name order, the tenant's genres only) by correlated subqueries, each
        a primary-key lookup per row of the page. Subqueries rather than joins: a join
        stays in every query derived from this one, so the deferred join of deep pages
        (``page()``) would walk 45,000 joined rows instead of the title index alone.

        The list, cursor and search endpoints render rows straight to JSON and need no
        model instances; building ~260 of them (books, authors, publishers, genres) and
        running the genres prefetch was most of a catalog page's Python time. Pages that
        need instances (the detail, the admin, writes) keep ``with_*_relations``.
        (Figures: docs/performance.md, "Levers, second set: where the remaining Python went".)
        """
        from catalog.models import Author, BookGenre, Publisher

        genres = BookGenre.objects.filter(
            book_id=OuterRef("pk"), genre__tenant_id=OuterRef("tenant_id")
        ).order_by("genre__name")
        rows = self.annotate(
            author_name=Subquery(Author.objects.filter(pk=OuterRef("author_id")).values("name")),
            publisher_name=Subquery(
                Publisher.objects.filter(pk=OuterRef("publisher_id")).values("name")
            ),
            genre_ids=ArraySubquery(genres.values("genre_id")),
            genre_names=ArraySubquery(genres.values("genre__name")),
        ).values(*BOOK_ROW_FIELDS)
        # values() keeps the queryset's class (scoping, paging, matching); only the rows
        # it yields change.
        return cast(Self, rows)

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
            # By hand: one primary-key read on every catalog page, cheaper to send than
            # to compose through the ORM.
            with connections[self.db].cursor() as cursor:
                cursor.execute(_TENANT_BOOK_COUNT_SQL, [self._require_scope()])
                row = cursor.fetchone()
            return row[0] if row else 0
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
        return self._is_tenant_filter(lookup) and lookup.rhs == self._scoped_tenant_id

    def in_catalog_order(self) -> Self:
        return self.order_by(*BOOK_CATALOG_ORDER)

    def text_match(self, text: str) -> Self:
        """The books whose search document matches ``text`` (websearch syntax), in no
        particular order. The GIN index book_tenant_search_gin answers
        ``tenant_id = X AND search_document @@ q``."""
        return self.filter(search_document=_search_query(text))

    def matching(self, text: str) -> Self:
        """``text_match``, best first (the API's search)."""
        query = _search_query(text)
        return (
            self.filter(search_document=query)
            .annotate(rank=SearchRank(F("search_document"), query))
            .order_by("-rank", *BOOK_CATALOG_ORDER)
        )

    def export_rows(self) -> QuerySet[Book, tuple[Any, ...]]:
        """Flat tuples for the export, genres folded into an array per row (no GROUP BY,
        so rows stream in catalog order straight off the index)."""
        from catalog.models import BookGenre

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
