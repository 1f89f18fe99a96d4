"""Orders in the admin: tenant-scoped and read-only; status changes go through the services.

An order's rows are written by placement (stock taken, prices copied) and its status by
the services (cancellation puts the stock back), so the admin edits nothing by hand: the
change form is a view with the items inline, and shipping and cancelling are actions.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from orders.models import Order, OrderItem
from orders.services import orders_cancel, orders_mark_shipped
from tenants.admin_scoping import TenantScopedAdminMixin, TenantScopedInlineMixin, is_superuser

ORDER_FIELDS = ("id", "user", "status", "total", "created_at", "idempotency_key")


class OrderItemInline(TenantScopedInlineMixin, admin.TabularInline):
    model = OrderItem
    fields = ("book", "quantity", "unit_price")
    readonly_fields = fields
    extra = 0
    can_delete = False
    read_only = True  # placement writes the items

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderItem]:
        # The book's title is the row's label: joined, without its long columns.
        return (
            super()
            .get_queryset(request)
            .select_related("book")
            .defer("book__search_document", "book__description")
            .order_by("book__title", "id")
        )


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
    # Orders are placed through the API; cancel instead of deleting: it puts the stock back.
    read_only = True
    actions = ("mark_shipped", "cancel_orders")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        # The change form shows the user (and the tenant, to superusers): joined.
        related = ("user", "tenant") if is_superuser(request) else ("user",)
        return super().get_queryset(request).select_related(*related)

    @admin.action(description="Mark selected orders shipped", permissions=["operator"])
    def mark_shipped(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        selected, shipped = self.apply_per_tenant(
            queryset, lambda tenant, ids: orders_mark_shipped(tenant=tenant, order_ids=ids)
        )
        self.message_user(request, f"Marked {shipped} orders shipped.", messages.SUCCESS)
        self._report_skipped(
            request,
            selected - shipped,
            "only pending or paid orders ship (shipped, cancelled and archived orders are closed).",
        )

    @admin.action(description="Cancel selected orders (stock restored)", permissions=["operator"])
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        selected, cancelled = self.apply_per_tenant(
            queryset, lambda tenant, ids: orders_cancel(tenant=tenant, order_ids=ids)
        )
        self.message_user(
            request, f"Cancelled {cancelled} orders; their stock is back.", messages.SUCCESS
        )
        self._report_skipped(
            request, selected - cancelled, "only pending or paid orders can be cancelled."
        )

    def _report_skipped(self, request: HttpRequest, skipped: int, why: str) -> None:
        if skipped:
            self.message_user(
                request, f"Left {skipped} orders as they were: {why}", messages.WARNING
            )
