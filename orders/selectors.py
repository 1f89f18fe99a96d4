"""Every order read; each takes the tenant first, then the user whose view it is."""

from __future__ import annotations

import uuid

from orders.models import Order
from orders.querysets import OrderQuerySet
from tenants.models import Tenant, User


def _orders(tenant: Tenant) -> OrderQuerySet:
    return Order.objects.for_tenant(tenant)


def order_list(*, tenant: Tenant, user: User) -> OrderQuerySet:
    """The orders ``user`` may see (an operator: the tenant's; a member: their own),
    newest first, with items. OrderFilterSet narrows it to active orders (default) or one
    status; each case has an index leading with tenant_id, the members' active orders
    one on (tenant_id, user_id, created_at)."""
    return _orders(tenant).visible_to(user).with_items().newest_first()


def order_get(*, tenant: Tenant, user: User, order_id: uuid.UUID) -> Order:
    """Raises Order.DoesNotExist for unknown ids, other tenants' orders and, for a
    member, other members' orders alike."""
    return _orders(tenant).visible_to(user).with_items().get(pk=order_id)
