"""The contract between the paginator and a queryset that reads its own pages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class DeferredPages(Protocol):
    """A queryset that knows how to read one of its numbered pages.

    The paginator (``PagePagination``, DRF's DEFAULT_PAGINATION_CLASS) asks a queryset
    that implements this protocol for ``page(offset, limit)`` instead of slicing it, so the
    queryset decides how a deep page is read; any other queryset is sliced. Implementers
    declare it by subclassing (``TenantScopedQuerySet`` does: deep pages as a deferred
    join), and the paginator checks ``isinstance(queryset, DeferredPages)``.
    """

    def page(self, offset: int, limit: int) -> Iterable[Any]:
        """Rows ``[offset, offset + limit)`` in the queryset's own order."""
        ...
