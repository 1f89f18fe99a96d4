"""Writes for orders: placement (stock, idempotency) and cancellation."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import orjson
from django.db import connection, transaction
from django.db.models import Sum

from catalog.services import OutOfStockError, book_stock_restore, book_stock_take, books_lock
from core.errors import ServiceError
from orders.models import Order, OrderItem, OrderStatus
from perf.locks import takes_locks
from perf.nplusone import allow_repeats
from tenants.models import Tenant, User

MAX_ITEMS = 100
MAX_QUANTITY = 1000
MAX_TOTAL = Decimal("99999999.99")  # Order.total is numeric(10, 2)
CANCELLABLE = frozenset({OrderStatus.PENDING, OrderStatus.PAID})


# --- Errors ------------------------------------------------------------------------------
# Each with its HTTP status (400 unless it names one). Short stock is the catalog's
# OutOfStockError: the catalog owns stock, and placement raises it with the short lines.


class OrderError(ServiceError):
    code = "order_error"


class OrderItemsInvalidError(OrderError):
    code = "invalid_items"


class UnknownBooksError(OrderError):
    """Ids that are not this tenant's books (other tenants' books included)."""

    code = "unknown_books"


class IdempotencyKeyInFlightError(OrderError):
    """Another request with this key is being processed right now."""

    code = "idempotency_key_in_flight"
    status = 409


class IdempotencyKeyReusedError(OrderError):
    """The key already placed an order with a different body."""

    code = "idempotency_key_reused"
    status = 422


class OrderNotCancellableError(OrderError):
    code = "order_not_cancellable"
    status = 409


# --- Placement ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderLine:
    book_id: uuid.UUID
    quantity: int


@dataclass(frozen=True, slots=True)
class OrderPlacement:
    order: Order
    replayed: bool  # True: an earlier request with the same idempotency key placed it


def order_lines_merge(items: Iterable[OrderLine]) -> list[OrderLine]:
    """One line per book (quantities of repeated books added up), sorted by book id.

    Sorted ids are the lock order of every stock write, so two orders for the same books
    in any order cannot deadlock.
    """
    quantities: dict[uuid.UUID, int] = {}
    for item in items:
        quantities[item.book_id] = quantities.get(item.book_id, 0) + item.quantity
    lines = [OrderLine(book_id, qty) for book_id, qty in sorted(quantities.items())]
    if not 1 <= len(lines) <= MAX_ITEMS:
        raise OrderItemsInvalidError(f"An order has 1 to {MAX_ITEMS} distinct books.")
    bad = [str(line.book_id) for line in lines if not 1 <= line.quantity <= MAX_QUANTITY]
    if bad:
        raise OrderItemsInvalidError(
            f"Quantity per book must be 1 to {MAX_QUANTITY}.", details={"book_ids": bad}
        )
    return lines


def _request_hash(lines: list[OrderLine]) -> str:
    canonical = orjson.dumps([[str(line.book_id), line.quantity] for line in lines])
    return hashlib.sha256(canonical).hexdigest()


# Held until the transaction ends. "try": a second request with the same key does not
# wait for the first; it is told the key is in flight (409) and may retry.
_IDEMPOTENCY_LOCK_SQL = "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))"


def _idempotent_replay(
    *, tenant: Tenant, user: User, idempotency_key: str, request_hash: str
) -> Order | None:
    with connection.cursor() as cursor:
        cursor.execute(_IDEMPOTENCY_LOCK_SQL, [f"orders.idempotency:{tenant.id}:{idempotency_key}"])
        (acquired,) = cursor.fetchone()
    if not acquired:
        raise IdempotencyKeyInFlightError(
            "A request with this Idempotency-Key is in progress; retry shortly."
        )
    earlier = (
        Order.objects.for_tenant(tenant)
        .filter(idempotency_key=idempotency_key)
        .only("id", "user_id", "request_hash")
        .first()
    )
    if earlier is not None and earlier.user_id != user.id:
        # Keys are unique per tenant; another user's key is refused, never replayed.
        raise IdempotencyKeyReusedError("This Idempotency-Key was used by another user.")
    if earlier is not None and earlier.request_hash != request_hash:
        raise IdempotencyKeyReusedError(
            "This Idempotency-Key was used for a different order.",
            details={"order_id": str(earlier.id)},
        )
    return earlier


@takes_locks("advisory", "catalog_book")
def order_place(
    *,
    tenant: Tenant,
    user: User,
    items: Iterable[OrderLine],
    idempotency_key: str | None = None,
) -> OrderPlacement:
    """Place an order: lock the books in id order, check and take the stock, copy the
    prices, all in one transaction; the same number of queries for 1 or 100 lines.

    With an idempotency key, a repeat of an earlier successful request (same merged
    lines) returns that order instead of placing another; a failed request leaves the
    key unused.
    """
    lines = order_lines_merge(items)
    request_hash = _request_hash(lines)
    with transaction.atomic():
        if idempotency_key is not None:
            earlier = _idempotent_replay(
                tenant=tenant,
                user=user,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
            )
            if earlier is not None:
                return OrderPlacement(order=earlier, replayed=True)

        book_ids = [line.book_id for line in lines]
        books = books_lock(tenant=tenant, book_ids=book_ids)
        unknown = [str(book_id) for book_id in book_ids if book_id not in books]
        if unknown:
            raise UnknownBooksError("Unknown books.", details={"book_ids": unknown})
        short = [
            {
                "book_id": str(line.book_id),
                "requested": line.quantity,
                "available": books[line.book_id].stock,
            }
            for line in lines
            if books[line.book_id].stock < line.quantity
        ]
        if short:
            raise OutOfStockError("Not enough stock.", details={"items": short})
        total = sum((books[line.book_id].price * line.quantity for line in lines), Decimal("0.00"))
        if total > MAX_TOTAL:
            raise OrderItemsInvalidError(f"An order's total may not exceed {MAX_TOTAL}.")

        book_stock_take(tenant=tenant, quantities=[(line.book_id, line.quantity) for line in lines])
        order = Order(
            tenant=tenant,
            user=user,
            status=OrderStatus.PENDING,
            total=total,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
        order.save(force_insert=True)
        OrderItem.objects.bulk_create(
            OrderItem(
                tenant_id=tenant.id,
                order=order,
                book_id=line.book_id,
                quantity=line.quantity,
                unit_price=books[line.book_id].price,
            )
            for line in lines
        )
    return OrderPlacement(order=order, replayed=False)


# --- Cancellation ------------------------------------------------------------------------


@takes_locks("orders_order", "catalog_book")
@transaction.atomic
def order_cancel(*, tenant: Tenant, order_id: uuid.UUID, user: User | None) -> None:
    """Cancel a pending or paid order and put its stock back. Cancelling a cancelled order
    does nothing (idempotent). Unknown, another tenant's, or (when ``user`` is a member)
    another member's order: Order.DoesNotExist. ``user=None`` (no default, so that no
    caller forgets it): the operators' tooling (the admin), any order of the tenant."""
    orders = Order.objects.for_tenant(tenant)
    if user is not None:
        orders = orders.visible_to(user)
    order = orders.select_for_update().only("id", "status").get(pk=order_id)
    if order.status == OrderStatus.CANCELLED:
        return
    if order.status not in CANCELLABLE:
        raise OrderNotCancellableError(
            f"A {order.status} order cannot be cancelled.", details={"status": order.status}
        )
    items = OrderItem.objects.for_tenant(tenant).filter(order_id=order.id)
    returned = items.values("book_id").annotate(copies=Sum("quantity"))
    book_stock_restore(tenant=tenant, returned=returned)
    orders.filter(pk=order.id).update(status=OrderStatus.CANCELLED)


# --- Operator bulk status changes (the admin's actions) ----------------------------------

# Shipping is the next step of an open order. No payment step exists yet (the API places
# orders as pending), so pending orders ship as paid ones do, the same statuses that
# CANCELLABLE allows. Shipped orders are done, a cancelled order's stock is back on the
# shelf (shipping it would ship goods no longer taken from stock), archived ones are closed.
SHIPPABLE = frozenset({OrderStatus.PENDING, OrderStatus.PAID})


@takes_locks("orders_order")
@transaction.atomic
def orders_mark_shipped(*, tenant: Tenant, order_ids: Sequence[uuid.UUID]) -> int:
    """Mark the pending or paid orders among ``order_ids`` shipped, in one UPDATE; the
    others (and other tenants' ids) are left alone. Returns the number shipped.

    The rows are locked in id order first, so two bulk changes over overlapping orders
    cannot deadlock; a cancellation committed meanwhile is re-checked by the WHERE.
    """
    orders = Order.objects.for_tenant(tenant).filter(pk__in=list(order_ids), status__in=SHIPPABLE)
    list(orders.lock_in_id_order().values_list("pk", flat=True))
    return orders.update(status=OrderStatus.SHIPPED)


@takes_locks("orders_order", "catalog_book")
@transaction.atomic
def orders_cancel(*, tenant: Tenant, order_ids: Sequence[uuid.UUID]) -> int:
    """Cancel the pending or paid orders among ``order_ids`` with ``order_cancel`` (stock
    restored), all or none; the others are left alone. Returns the number cancelled.

    Every lock is taken up front in the order placement and order_cancel use: the
    orders by id, then all their books by id. Each order_cancel then locks rows that this
    transaction already holds, so it never waits on a lock out of order. Its queries
    repeat once per order by design: a few per order, for a rare operator action.
    """
    orders = Order.objects.for_tenant(tenant)
    cancellable = list(
        orders.filter(pk__in=list(order_ids), status__in=CANCELLABLE)
        .lock_in_id_order()
        .values_list("pk", flat=True)
    )
    if not cancellable:
        return 0
    item_book_ids = (
        OrderItem.objects.for_tenant(tenant).filter(order_id__in=cancellable).values("book_id")
    )
    books_lock(tenant=tenant, book_ids=item_book_ids)
    with allow_repeats("orders_cancel runs order_cancel once per order", match="FOR UPDATE"):
        for order_id in cancellable:
            order_cancel(tenant=tenant, order_id=order_id, user=None)
    return len(cancellable)
