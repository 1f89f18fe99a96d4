"""Every order read; each takes the tenant first."""

from __future__ import annotations

import uuid

from orders.models import Order
from orders.querysets import OrderQuerySet
from tenants.models import Tenant


def _orders(tenant: Tenant) -> OrderQuerySet:
    return OrderQuerySet(Order).for_tenant(tenant)


def order_list(*, tenant: Tenant) -> OrderQuerySet:
    """Newest first, with items. OrderFilterSet narrows it to active orders (default) or
    one status; each case has an index leading with tenant_id."""
    return _orders(tenant).with_items().newest_first()


def order_get(*, tenant: Tenant, order_id: uuid.UUID) -> Order:
    """Raises Order.DoesNotExist for unknown ids and other tenants' orders alike."""
    return _orders(tenant).with_items().get(pk=order_id)
