"""Tenant scoping, in one place: every tenant-owned read goes through ``for_tenant``.

``TenantScopedQuerySet`` fails closed, and every tenant-owned model declares it as its
default manager (``objects = BookQuerySet.as_manager()``), so ``Book.objects`` is guarded
like everything built from it. A queryset that reaches the database (fetch, iterate,
count, exists, aggregate, update, delete) raises ``UnscopedQueryError`` instead of reading
every tenant's rows, unless it is scoped, which means one of:

- ``for_tenant(tenant)`` / ``for_tenant_id(id)``: what selectors and services use;
- a top-level ``tenant_id = <value>`` filter of its own table (``filter(tenant=t)``): how
  Django itself scopes a related manager of a Tenant, the admin's tenant filter and the
  uniqueness checks of constraints that lead with the tenant;
- a related manager of one tenant-owned row (``book.genres``, ``order.items``, and the
  prefetches Django builds from them): rows linked to a row of one tenant are that
  tenant's, since every write path refuses links across tenants;
- ``across_tenants(reason)``: the one escape, for the few jobs that must read every
  tenant (a superuser's admin, seeding, metrics). It is greppable on purpose, and
  tenants/tests/test_scoping.py lists every use outside the tests.

Django's base manager (``_base_manager``: forward relations, ``refresh_from_db``,
``save()``'s UPDATE, deletion cascades) stays the plain one: those act on rows already
in hand.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Self, TypeGuard, TypeVar

from django.db import models
from django.db.models.expressions import Col
from django.db.models.lookups import Exact
from django.db.models.sql.where import AND

from core.pages import DeferredPages
from tenants.models import Tenant

_M = TypeVar("_M", bound=models.Model)


# From this offset on, a page is read as a deferred join (see TenantScopedQuerySet.page).
DEFERRED_JOIN_MIN_OFFSET = 1_000


class UnscopedQueryError(RuntimeError):
    """A tenant-owned queryset was evaluated without ``for_tenant()``."""


_validating_for: ContextVar[uuid.UUID | None] = ContextVar("validating_for", default=None)


@contextmanager
def validating_for(tenant_id: uuid.UUID | None) -> Iterator[None]:
    """Run Django's model validation of one tenant's row (``validate_unique``,
    ``validate_constraints``): the queries it builds on the default manager (a unique
    constraint without the tenant, such as BookGenre's (book, genre)) are narrowed to that
    tenant instead of failing closed. Only for validation: Django gives those checks no
    other way in."""
    token = _validating_for.set(tenant_id)
    try:
        yield
    finally:
        _validating_for.reset(token)


class TenantScopedQuerySet(models.QuerySet[_M], DeferredPages):
    _scoped_tenant_id: uuid.UUID | None = None
    _across_tenants_reason: str | None = None

    def for_tenant(self, tenant: Tenant) -> Self:
        return self.for_tenant_id(tenant.id)

    def for_tenant_id(self, tenant_id: uuid.UUID) -> Self:
        clone = self.filter(tenant_id=tenant_id)
        clone._scoped_tenant_id = tenant_id
        return clone

    def across_tenants(self, reason: str) -> Self:
        """The one escape from the scope, for a job that must read every tenant's rows;
        ``reason`` says which job and why (it is read in review, not at run time)."""
        if not reason.strip():
            raise ValueError("across_tenants() needs the reason this job reads every tenant")
        clone = self._chain()  # type: ignore[attr-defined]
        clone._across_tenants_reason = reason
        return clone  # type: ignore[no-any-return]

    def lock_in_id_order(self) -> Self:
        """Row locks (``SELECT ... FOR UPDATE``) taken in primary-key order, the order in
        which every writer of several rows of a table takes them: two writers over
        overlapping rows then wait for each other instead of deadlocking."""
        return self.order_by("pk").select_for_update()

    @property
    def tenant_id(self) -> uuid.UUID | None:
        return self._scoped_tenant_id

    def page(self, offset: int, limit: int) -> Self:
        """Rows ``[offset, offset + limit)`` in the queryset's order (``DeferredPages``:
        what the paginator reads a numbered page with).

        Deep pages are a deferred join: ``WHERE id IN (SELECT id ... ORDER BY ... OFFSET n
        LIMIT m)``. The inner query walks only the ordering index (an index-only scan when
        the index holds the ordering and the id, as book_tenant_title_id does), and the
        outer one reads and joins just the page's rows, instead of sorting or joining
        every row before the offset.
        """
        if offset < DEFERRED_JOIN_MIN_OFFSET:
            return self[offset : offset + limit]
        ids = self.values("pk")[offset : offset + limit]
        return self.filter(pk__in=ids)

    def _clone(self) -> Self:
        # QuerySet._clone is private API (absent from the stubs); it is where every
        # chained queryset is copied, so the scope must be carried over here.
        clone: Self = super()._clone()  # type: ignore[misc]
        clone._scoped_tenant_id = self._scoped_tenant_id
        clone._across_tenants_reason = self._across_tenants_reason
        return clone

    def _require_scope(self) -> uuid.UUID:
        """The tenant of ``for_tenant()``: what a bundle needs to scope its prefetches."""
        if self._scoped_tenant_id is None:
            raise UnscopedQueryError(
                f"{self.model.__name__} queryset evaluated without for_tenant()"
            )
        return self._scoped_tenant_id

    def _check_scope(self) -> None:
        """Fail closed: raise unless this queryset is scoped (see the module docstring)."""
        if (
            self._scoped_tenant_id is None
            and self._across_tenants_reason is None
            and not self._filters_one_tenant()
            and not self._relates_to_one_row()
        ):
            ambient = _validating_for.get()
            if ambient is not None:
                # Django's own uniqueness check, inside validating_for(): narrow it to the
                # tenant of the row being validated, which gives the same answer.
                self.query.add_q(models.Q(tenant_id=ambient))
                self._scoped_tenant_id = ambient
                return
            raise UnscopedQueryError(
                f"{self.model.__name__} queryset evaluated without for_tenant(); a job "
                "that must read every tenant says so with across_tenants(reason)"
            )

    def _filters_one_tenant(self) -> bool:
        where = self.query.where
        if where.connector != AND or where.negated:
            return False
        return any(self._is_tenant_filter(lookup) for lookup in where.children)

    def _is_tenant_filter(self, lookup: object) -> TypeGuard[Exact[Any]]:
        """``tenant_id = <value>`` on this queryset's own table."""
        return (
            isinstance(lookup, Exact)
            and isinstance(lookup.lhs, Col)
            and lookup.lhs.alias == self.query.base_table
            and lookup.lhs.target.column == "tenant_id"
            and lookup.rhs is not None
            and not hasattr(lookup.rhs, "resolve_expression")
        )

    def runs_without_tenant_filter(self) -> bool:
        """The scopes that put no tenant filter in the SQL: the explicit escape, and a
        related manager of one row (perf.tenancy's guard checks every other statement on
        a tenant-owned table for the filter)."""
        return self._across_tenants_reason is not None or self._relates_to_one_row()

    def _relates_to_one_row(self) -> bool:
        # Set by related managers and their prefetches (QuerySet._hints, private API).
        instance = self._hints.get("instance")  # type: ignore[attr-defined]
        return getattr(instance, "tenant_id", None) is not None

    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._check_scope()
        super()._fetch_all()

    def iterator(self, chunk_size: int | None = None) -> Any:
        self._check_scope()
        return super().iterator(chunk_size)

    def count(self) -> int:
        if self._result_cache is None:
            self._check_scope()
        return super().count()

    def exists(self) -> bool:
        if self._result_cache is None:
            self._check_scope()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._check_scope()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        self._check_scope()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._check_scope()
        return super().delete()
