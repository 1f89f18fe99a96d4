"""The orders' hot queries, handed to perf (``manage.py explain``) from AppConfig.ready()."""

from __future__ import annotations

from typing import Any

from orders.selectors import order_list
from perf.registry import hot_queries
from tenants.models import Role, Tenant, User


def _first_user(tenant: Tenant, role: str) -> User:
    # Seeded tenants have one operator and one member, who placed the past orders.
    user = User.objects.filter(tenant=tenant, role=role).order_by("username").first()
    if user is None:
        raise LookupError(f"tenant {tenant.slug} has no {role}")
    return user


def active_orders_page(tenant: Tenant) -> Any:
    # The list's default filter (active orders), as the API's filterset applies it; an
    # operator's list: every order of the tenant.
    return order_list(tenant=tenant, user=_first_user(tenant, Role.OPERATOR)).active()[:50]


def member_active_orders_page(tenant: Tenant) -> Any:
    # A member's list: their own orders only.
    return order_list(tenant=tenant, user=_first_user(tenant, Role.MEMBER)).active()[:50]


def register() -> None:
    hot_queries.register("orders list (active)", active_orders_page)
    hot_queries.register("orders list (active, member)", member_active_orders_page)
