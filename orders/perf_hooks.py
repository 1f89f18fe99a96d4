"""The orders' hot queries, handed to perf (``manage.py explain``) from AppConfig.ready()."""

from __future__ import annotations

from typing import Any

from orders.selectors import order_list
from perf.registry import hot_queries
from tenants.models import Tenant


def active_orders_page(tenant: Tenant) -> Any:
    # The list's default filter (active orders), as the API's filterset applies it.
    return order_list(tenant=tenant).active()[:50]


def register() -> None:
    hot_queries.register("orders list (active)", active_orders_page)
