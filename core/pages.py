"""The contract between the paginator and a queryset that reads its own pages."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any


class DeferredPages(ABC):
    """A queryset that knows how to read one of its numbered pages.

    The paginator (``PagePagination``, DRF's DEFAULT_PAGINATION_CLASS) asks a queryset
    that declares this contract for ``page(offset, limit)`` instead of slicing it, so the
    queryset decides how a deep page is read; any other queryset is sliced. The contract
    is nominal: a queryset takes part by subclassing (``TenantScopedQuerySet`` does: deep
    pages as a deferred join), and the paginator checks ``isinstance(queryset,
    DeferredPages)``, so an object that merely has a ``page`` attribute is sliced like any
    other.
    """

    __slots__ = ()

    @abstractmethod
    def page(self, offset: int, limit: int) -> Iterable[Any]:
        """Rows ``[offset, offset + limit)`` in the queryset's own order."""
