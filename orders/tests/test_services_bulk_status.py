"""The operators' bulk status changes: orders_mark_shipped, orders_cancel."""

from __future__ import annotations

import pytest

from catalog.models import Book
from orders.models import Order, OrderStatus
from orders.services import OrderLine, order_place, orders_cancel, orders_mark_shipped
from perf.pytest_plugin import query_budget
from tests.factories import BookFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

# Lock the shippable orders in id order, then one UPDATE, inside the service's atomic
# (BEGIN/COMMIT, uncounted; query_budget leaves out the test transaction's savepoints).
MARK_SHIPPED_QUERIES = 1 + 1


def statuses(orders) -> list[str]:
    by_id = dict(
        Order.objects.across_tenants("test")
        .filter(pk__in=[o.pk for o in orders])
        .values_list("id", "status")
    )
    return [by_id[o.pk] for o in orders]


def test_mark_shipped_ships_pending_and_paid_orders_only(tenant):
    orders = [OrderFactory(tenant=tenant, status=status) for status in OrderStatus.values]
    shipped = orders_mark_shipped(tenant=tenant, order_ids=[o.pk for o in orders])
    assert shipped == 2
    assert statuses(orders) == [
        OrderStatus.SHIPPED,  # pending
        OrderStatus.SHIPPED,  # paid
        OrderStatus.SHIPPED,  # already shipped, untouched
        OrderStatus.CANCELLED,
        OrderStatus.ARCHIVED,
    ]


def test_mark_shipped_leaves_other_tenants_orders_alone(tenant, other_tenant):
    theirs = OrderFactory(tenant=other_tenant, status=OrderStatus.PAID)
    assert orders_mark_shipped(tenant=tenant, order_ids=[theirs.pk]) == 0
    assert statuses([theirs]) == [OrderStatus.PAID]


@pytest.mark.parametrize("n", [2, 30])
def test_mark_shipped_runs_the_same_queries_for_any_number_of_orders(tenant, n):
    orders = OrderFactory.create_batch(n, tenant=tenant, status=OrderStatus.PAID)
    with query_budget(MARK_SHIPPED_QUERIES, exact=True):
        assert orders_mark_shipped(tenant=tenant, order_ids=[o.pk for o in orders]) == n


@pytest.mark.allow_repeats("the setup places one order per order_place call")
def test_cancel_restores_the_stock_of_every_cancelled_order(tenant):
    user = UserFactory(tenant=tenant)
    books = BookFactory.create_batch(3, tenant=tenant, stock=50)
    placed = [
        order_place(
            tenant=tenant,
            user=user,
            items=[OrderLine(books[i % 3].id, 2), OrderLine(books[(i + 1) % 3].id, 1)],
        ).order
        for i in range(6)
    ]
    shipped = OrderFactory(tenant=tenant, user=user, status=OrderStatus.SHIPPED)
    assert orders_cancel(tenant=tenant, order_ids=[o.pk for o in [*placed, shipped]]) == 6
    assert statuses(placed) == [OrderStatus.CANCELLED] * 6
    assert statuses([shipped]) == [OrderStatus.SHIPPED]
    assert set(Book.objects.filter(tenant=tenant).values_list("stock", flat=True)) == {50}


def test_cancel_leaves_other_tenants_orders_alone(tenant, other_tenant):
    theirs = OrderFactory(tenant=other_tenant, status=OrderStatus.PENDING)
    assert orders_cancel(tenant=tenant, order_ids=[theirs.pk]) == 0
    assert statuses([theirs]) == [OrderStatus.PENDING]


def test_cancel_with_nothing_cancellable_runs_one_query(tenant):
    done = OrderFactory(tenant=tenant, status=OrderStatus.ARCHIVED)
    with query_budget(1, exact=True):  # the lock query
        assert orders_cancel(tenant=tenant, order_ids=[done.pk]) == 0
