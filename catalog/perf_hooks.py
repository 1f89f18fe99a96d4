"""The catalog's hot queries, handed to perf (``manage.py explain``) from AppConfig.ready().

Each builder uses the same selectors and queryset bundles as the API.
"""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan

from catalog.models import Book
from catalog.selectors import book_list, book_search, tenants_by_size
from perf.registry import hot_queries
from tenants.models import Tenant

PAGE = 50
DEEP = 0.9  # deep pages start 90% of the way into the catalog


def load_tenant(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise LookupError(f"no tenant with slug {slug!r}")
    return tenant


def largest_tenant() -> str:
    return tenants_by_size().values_list("slug", flat=True).first() or ""


def _deep_offset(tenant: Tenant) -> int:
    return int(book_list(tenant=tenant).count() * DEEP)


def catalog_first_page(tenant: Tenant) -> Any:
    return book_list(tenant=tenant)[:PAGE]


def catalog_deep_offset_page(tenant: Tenant) -> Any:
    # As the API's page pagination reads it: a deferred join at this depth.
    return book_list(tenant=tenant).page(_deep_offset(tenant), PAGE)


def catalog_deep_cursor_page(tenant: Tenant) -> Any:
    position = book_list(tenant=tenant).values_list("title", "pk")[_deep_offset(tenant)]
    # The filter the API's keyset pagination adds after a cursor.
    after = book_list(tenant=tenant).filter(TupleGreaterThan(Tuple(F("title"), F("pk")), position))
    return after[:PAGE]


def search(tenant: Tenant) -> Any:
    word = book_list(tenant=tenant).values_list("title", flat=True).first() or "book"
    return book_search(tenant=tenant, text=word.split()[-1])[:PAGE]


def book_detail(tenant: Tenant) -> Any:
    pk = book_list(tenant=tenant).values_list("pk", flat=True)[_deep_offset(tenant)]
    return Book.objects.for_tenant(tenant).with_detail_relations().filter(pk=pk)


def export(tenant: Tenant) -> Any:
    return Book.objects.for_tenant(tenant).export_rows()


def register() -> None:
    hot_queries.register_subject(load_tenant, default=largest_tenant)
    hot_queries.register("catalog page (first)", catalog_first_page)
    hot_queries.register("catalog page (deep, OFFSET)", catalog_deep_offset_page)
    hot_queries.register("catalog page (deep, cursor)", catalog_deep_cursor_page)
    hot_queries.register("search", search)
    hot_queries.register("book detail", book_detail)
    hot_queries.register("export", export, streamed=True)
