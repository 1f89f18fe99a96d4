"""The orders' hot paths, handed to perf (``manage.py explain``) from AppConfig.ready().

Served as the API serves them (``tenants.perf_hooks.api_get``), with the list's default
filter: active orders.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from perf.registry import hot_queries
from tenants.models import Role, Tenant
from tenants.perf_hooks import api_get, tenant_user

PAGE = 50


def _orders_page(role: str, tenant: Tenant) -> Callable[[], object]:
    # An operator's list: every order of the tenant; a member's: their own.
    return partial(
        api_get, f"/api/v2/orders?limit={PAGE}", tenant=tenant, user=tenant_user(tenant, role)
    )


def register() -> None:
    hot_queries.register("orders list (active)", partial(_orders_page, Role.OPERATOR))
    hot_queries.register("orders list (active, member)", partial(_orders_page, Role.MEMBER))
