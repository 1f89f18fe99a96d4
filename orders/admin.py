"""Orders in the admin: tenant-scoped and read-only; status changes go through the services.

An order's rows are written by placement (stock taken, prices copied) and its status by
the services (cancellation puts the stock back), so the admin edits nothing by hand: the
change form is a view with the items inline, and shipping and cancelling are actions.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from orders.models import Order, OrderItem
from orders.services import orders_cancel, orders_mark_shipped
from tenants.admin_scoping import (
    TenantScopedAdminMixin,
    TenantScopedInlineMixin,
    is_superuser,
    operator_tenant_id,
)

ORDER_FIELDS = ("id", "user", "status", "total", "created_at", "idempotency_key")


class OrderItemInline(TenantScopedInlineMixin, admin.TabularInline):
    model = OrderItem
    fields = ("book", "quantity", "unit_price")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderItem]:
        # The book's title is the row's label: joined, without its long columns.
        return (
            super()
            .get_queryset(request)
            .select_related("book")
            .defer("book__search_document", "book__description")
            .order_by("book__title", "id")
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ("id", "user", "status", "total", "created_at")
    list_select_related = ("user",)
    list_filter = ("status",)
    ordering = ("-created_at", "-id")
    fields = ORDER_FIELDS
    readonly_fields = ORDER_FIELDS
    inlines = (OrderItemInline,)
    list_per_page = 50
    show_full_result_count = False
    actions = ("mark_shipped", "cancel_orders")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        # The change form shows the user (and the tenant, to superusers): joined.
        related = ("user", "tenant") if is_superuser(request) else ("user",)
        return super().get_queryset(request).select_related(*related)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # orders are placed through the API

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # cancel instead: it puts the stock back

    def has_ship_permission(self, request: HttpRequest) -> bool:
        return is_superuser(request) or operator_tenant_id(request) is not None

    has_cancel_permission = has_ship_permission

    @admin.action(description="Mark selected orders shipped", permissions=["ship"])
    def mark_shipped(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        selected = shipped = 0
        with transaction.atomic():
            for tenant, ids in self.selected_by_tenant(queryset):
                selected += len(ids)
                shipped += orders_mark_shipped(tenant=tenant, order_ids=ids)
        self.message_user(request, f"Marked {shipped} orders shipped.", messages.SUCCESS)
        if skipped := selected - shipped:
            self.message_user(
                request,
                f"Left {skipped} orders as they were: only pending or paid orders ship "
                "(shipped, cancelled and archived orders are closed).",
                messages.WARNING,
            )

    @admin.action(description="Cancel selected orders (stock restored)", permissions=["cancel"])
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        selected = cancelled = 0
        with transaction.atomic():
            for tenant, ids in self.selected_by_tenant(queryset):
                selected += len(ids)
                cancelled += orders_cancel(tenant=tenant, order_ids=ids)
        self.message_user(
            request, f"Cancelled {cancelled} orders; their stock is back.", messages.SUCCESS
        )
        if skipped := selected - cancelled:
            self.message_user(
                request,
                f"Left {skipped} orders as they were: only pending or paid orders can be "
                "cancelled.",
                messages.WARNING,
            )
