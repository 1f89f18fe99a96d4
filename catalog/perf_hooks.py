"""The catalog's hot paths, handed to perf (``manage.py explain``) from AppConfig.ready().

Each is served as the API serves it (``tenants.perf_hooks.api_get``: the project's URLs,
the view, its selector, the real paginator), so what is planned is what runs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from catalog.selectors import book_list, tenants_by_size
from perf.registry import hot_queries
from tenants.models import Tenant
from tenants.perf_hooks import api_get, path_of, tenant_user
from tenants.querysets import DEFERRED_JOIN_MIN_OFFSET

PAGE = 50
# Deep pages at a fixed depth, past where the deferred join starts: the cost of page N
# must not depend on the tenant's size, and a smaller tenant has the same page to compare.
DEEP_OFFSET = DEFERRED_JOIN_MIN_OFFSET * 3 // 2

Serve = Callable[[], object]


def load_tenant(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise LookupError(f"no tenant with slug {slug!r}")
    return tenant


def largest_tenant() -> str:
    return tenants_by_size().values_list("slug", flat=True).first() or ""


def tenant_sizes() -> dict[str, int]:
    return dict(tenants_by_size().values_list("slug", "n_books"))


def _get(tenant: Tenant, path: str) -> Serve:
    return partial(api_get, path, tenant=tenant, user=tenant_user(tenant))


def catalog_first_page(tenant: Tenant) -> Serve:
    return _get(tenant, f"/api/v2/books?limit={PAGE}")


def catalog_deep_page(tenant: Tenant) -> Serve:
    offset = min(DEEP_OFFSET, book_list(tenant=tenant).count() - 1)
    return _get(tenant, f"/api/v2/books?page={max(offset, 0) // PAGE + 1}&limit={PAGE}")


def catalog_cursor_pages(tenant: Tenant) -> Serve:
    """The first keyset page, then the one its ``next`` link names (a keyset page costs the
    same at any depth, so the second stands for them all)."""
    get = partial(api_get, tenant=tenant, user=tenant_user(tenant))

    def serve() -> None:
        first = get(f"/api/v2/books?cursor=&limit={PAGE}")
        if first.data["next"]:
            get(path_of(first.data["next"]))

    return serve


def search(tenant: Tenant) -> Serve:
    word = book_list(tenant=tenant).values_list("title", flat=True).first() or "book"
    return _get(tenant, f"/api/v2/books/search?q={word.split()[-1]}&limit={PAGE}")


def book_detail(tenant: Tenant) -> Serve:
    books = book_list(tenant=tenant)
    pk = books.values_list("pk", flat=True)[books.count() // 2]
    return _get(tenant, f"/api/v2/books/{pk}")


def export(tenant: Tenant) -> Serve:
    return _get(tenant, "/api/v2/books/export")


def register() -> None:
    hot_queries.register_subject(load_tenant, default=largest_tenant, sizes=tenant_sizes)
    hot_queries.register("catalog page (first)", catalog_first_page, page_rows=PAGE)
    # The rows before a deep page are skipped on the title index alone (a deferred join).
    hot_queries.register("catalog page (deep)", catalog_deep_page, page_rows=PAGE, covering=True)
    hot_queries.register("catalog page (cursor)", catalog_cursor_pages, page_rows=PAGE)
    hot_queries.register("search", search, page_rows=PAGE, ranked_by="ts_rank")
    hot_queries.register("book detail", book_detail)
    hot_queries.register("export", export, whole_subject=True)
