"""Scoped querysets for orders, each its model's default manager:
``Order.objects.for_tenant(t).visible_to(user).active().with_items()``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from django.db.models import Prefetch

from perf.fetch import bundle_fetch_mode
from tenants.querysets import TenantScopedQuerySet

if TYPE_CHECKING:
    # orders.models declares these querysets as its managers, so it imports this module
    # first; the models are read inside the methods, at query time.
    from orders.models import Order, OrderItem  # noqa: F401
    from tenants.models import User

ORDER_FIELDS = ("id", "status", "created_at", "total")
ORDER_ITEM_FIELDS = ("id", "order", "book", "book__title", "quantity", "unit_price")


class OrderItemQuerySet(TenantScopedQuerySet["OrderItem"]):
    pass


class OrderQuerySet(TenantScopedQuerySet["Order"]):
    def active(self) -> Self:
        """Not cancelled or archived: the predicate of the partial index
        order_tenant_active_created, written the same way so the planner matches it."""
        from orders.models import INACTIVE_STATUSES

        return self.exclude(status__in=INACTIVE_STATUSES)

    def visible_to(self, user: User) -> Self:
        """The orders ``user`` may see and act on: an operator's, all of the tenant's; a
        member's, their own. Another member's order is then not found, as another
        tenant's is."""
        if user.is_operator:
            return self
        return self.filter(user_id=user.pk)

    def newest_first(self) -> Self:
        return self.order_by("-created_at", "-id")

    def with_items(self) -> Self:
        """The order's own columns and its items with their book titles: one query for the
        orders, one for all their items (book joined)."""
        from orders.models import OrderItem

        items = (
            OrderItem.objects.for_tenant_id(self._require_scope())
            .select_related("book")
            .only(*ORDER_ITEM_FIELDS)
            .order_by("book__title", "id")
        )
        return (
            self.only(*ORDER_FIELDS)
            .prefetch_related(Prefetch("items", queryset=items))
            .fetch_mode(bundle_fetch_mode())
        )
