"""Tenant scoping, in one place: every tenant-owned read goes through ``for_tenant``.

``TenantScopedQuerySet`` fails closed: a queryset built from it that reaches the database
(fetch, iterate, count, exists, aggregate, update, delete) without ``for_tenant(tenant)``
raises ``UnscopedQueryError`` instead of reading every tenant's rows. Selectors and
services build their querysets from these classes, so a forgotten filter is a loud test
failure, never a leak.
"""

from __future__ import annotations

import uuid
from typing import Any, Self, TypeVar

from django.db import models

from tenants.models import Tenant

_M = TypeVar("_M", bound=models.Model)


# From this offset on, a page is read as a deferred join (see TenantScopedQuerySet.page).
DEFERRED_JOIN_MIN_OFFSET = 1_000


class UnscopedQueryError(RuntimeError):
    """A tenant-owned queryset was evaluated without ``for_tenant()``."""


class TenantScopedQuerySet(models.QuerySet[_M]):
    _scoped_tenant_id: uuid.UUID | None = None

    def for_tenant(self, tenant: Tenant) -> Self:
        return self.for_tenant_id(tenant.id)

    def for_tenant_id(self, tenant_id: uuid.UUID) -> Self:
        clone = self.filter(tenant_id=tenant_id)
        clone._scoped_tenant_id = tenant_id
        return clone

    @property
    def tenant_id(self) -> uuid.UUID | None:
        return self._scoped_tenant_id

    def page(self, offset: int, limit: int) -> Self:
        """Rows ``[offset, offset + limit)`` in the queryset's order.

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
        return clone

    def _require_scope(self) -> uuid.UUID:
        if self._scoped_tenant_id is None:
            raise UnscopedQueryError(
                f"{self.model.__name__} queryset evaluated without for_tenant()"
            )
        return self._scoped_tenant_id

    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._require_scope()
        super()._fetch_all()

    def iterator(self, chunk_size: int | None = None) -> Any:
        self._require_scope()
        return super().iterator(chunk_size)

    def count(self) -> int:
        if self._result_cache is None:
            self._require_scope()
        return super().count()

    def exists(self) -> bool:
        if self._result_cache is None:
            self._require_scope()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._require_scope()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        self._require_scope()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._require_scope()
        return super().delete()
