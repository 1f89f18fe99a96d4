from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from catalog.models import Book
from orders.querysets import OrderItemQuerySet, OrderQuerySet
from tenants.models import Tenant


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PAID = "paid", "Paid"
    SHIPPED = "shipped", "Shipped"
    CANCELLED = "cancelled", "Cancelled"
    ARCHIVED = "archived", "Archived"


INACTIVE_STATUSES = (OrderStatus.CANCELLED, OrderStatus.ARCHIVED)


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="orders", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    total = models.DecimalField(max_digits=10, decimal_places=2)
    # NULL, not "", when absent: the partial unique constraint covers only real keys.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    request_hash = models.CharField(max_length=64, blank=True, default="")

    objects = OrderQuerySet.as_manager()

    class Meta:
        indexes = [
            # Active orders, newest first, id as the tie-break so that pages are stable.
            # INCLUDE (status, total): with id and created_at in the key, the list's page
            # (only id, status, created_at, total) is an index-only scan.
            models.Index(
                fields=["tenant", "-created_at", "-id"],
                include=["status", "total"],
                condition=~models.Q(status__in=INACTIVE_STATUSES),
                name="order_tenant_active_created",
            ),
            # A member's active orders (members list only their own): the same shape,
            # the user after the tenant. Without it a member with few or old orders
            # walks the whole tenant's active orders through the index above, filtering
            # by user (figures: docs/performance.md, "orders/models.py: the member's
            # active-orders index").
            models.Index(
                fields=["tenant", "user", "-created_at", "-id"],
                include=["status", "total"],
                condition=~models.Q(status__in=INACTIVE_STATUSES),
                name="order_tenant_user_active",
            ),
            models.Index(fields=["tenant", "status", "-created_at"], name="order_tenant_status"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="order_tenant_idempotency_key_uniq",
            ),
            models.CheckConstraint(condition=models.Q(total__gte=0), name="order_total_gte_0"),
        ]

    def __str__(self) -> str:
        return f"Order {self.id}"


class OrderItem(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="order_items", db_index=False
    )
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    book = models.ForeignKey(Book, on_delete=models.PROTECT, related_name="order_items")
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)

    objects = OrderItemQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="orderitem_qty_gt_0"),
            models.CheckConstraint(
                condition=models.Q(unit_price__gte=0), name="orderitem_price_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.book_id}"
