"""Within a tenant, a member sees and cancels only their own orders; an operator sees and
manages all of the tenant's. Another member's order is a 404 for a member, as if it did
not exist, in the list, the detail and cancel."""

from __future__ import annotations

import pytest

from orders.models import Order, OrderStatus
from orders.tests.test_orders_api import (
    CANCEL_BUDGET,
    DETAIL_BUDGET,
    LIST_BUDGET,
    orders_with_items,
    stock,
)
from perf.pytest_plugin import query_budget
from tenants.tests.api_client import client_for, error_code
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def colleague(tenant):
    """Another member of the member's own tenant."""
    return client_for(UserFactory(tenant=tenant))


def ids(response):
    return {order["id"] for order in response.json()["results"]}


def test_a_member_lists_only_their_own_orders(member, colleague, tenant):
    mine = orders_with_items(tenant, 2, user=member.user)
    orders_with_items(tenant, 3, user=colleague.user)
    response = member.get("/api/v2/orders")
    assert response.json()["count"] == 2
    assert ids(response) == {str(order.id) for order in mine}
    by_status = member.get("/api/v2/orders", {"status": "pending"})
    assert ids(by_status) == {str(order.id) for order in mine}


def test_an_operator_lists_every_order_of_the_tenant(operator, member, colleague, tenant):
    everyone = [
        *orders_with_items(tenant, 2, user=member.user),
        *orders_with_items(tenant, 3, user=colleague.user),
    ]
    response = operator.get("/api/v2/orders")
    assert response.json()["count"] == 5
    assert ids(response) == {str(order.id) for order in everyone}


def test_another_members_order_is_404_for_a_member(member, colleague, tenant):
    theirs = orders_with_items(tenant, 1, user=colleague.user)[0]
    before = stock(theirs.items.first().book)
    detail = member.get(f"/api/v2/orders/{theirs.id}")
    assert detail.status_code == 404 and error_code(detail) == "not_found"
    cancel = member.post(f"/api/v2/orders/{theirs.id}/cancel")
    assert cancel.status_code == 404 and error_code(cancel) == "not_found"
    assert Order.objects.across_tenants("test").get(pk=theirs.pk).status == OrderStatus.PENDING
    assert stock(theirs.items.first().book) == before
    # The owner still sees and cancels it.
    assert colleague.get(f"/api/v2/orders/{theirs.id}").status_code == 200
    assert colleague.post(f"/api/v2/orders/{theirs.id}/cancel").status_code == 200


def test_an_operator_sees_and_cancels_a_members_order(operator, member, tenant):
    theirs = orders_with_items(tenant, 1, user=member.user)[0]
    before = stock(theirs.items.first().book)
    assert operator.get(f"/api/v2/orders/{theirs.id}").status_code == 200
    response = operator.post(f"/api/v2/orders/{theirs.id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert stock(theirs.items.first().book) == before + 1


# Query counts: scoping to the user is a WHERE clause, not a query.


@pytest.mark.parametrize("n_orders", [1, 30])
def test_member_list_query_count_with_colleagues_orders(member, colleague, tenant, n_orders):
    orders_with_items(tenant, n_orders, n_items=3, user=member.user)
    orders_with_items(tenant, n_orders, n_items=3, user=colleague.user)
    with query_budget(LIST_BUDGET, exact=True):
        response = member.get("/api/v2/orders", {"limit": 100})
    assert len(response.json()["results"]) == n_orders


@pytest.mark.parametrize("n_orders", [1, 30])
def test_operator_list_query_count(operator, member, colleague, tenant, n_orders):
    orders_with_items(tenant, n_orders, n_items=3, user=member.user)
    orders_with_items(tenant, n_orders, n_items=3, user=colleague.user)
    with query_budget(LIST_BUDGET, exact=True):
        response = operator.get("/api/v2/orders", {"limit": 100})
    assert len(response.json()["results"]) == 2 * n_orders


@pytest.mark.parametrize("n_items", [1, 20])
def test_operator_detail_and_cancel_query_counts(operator, member, tenant, n_items):
    order = orders_with_items(tenant, 1, n_items=n_items, user=member.user)[0]
    with query_budget(DETAIL_BUDGET, exact=True):
        assert operator.get(f"/api/v2/orders/{order.id}").status_code == 200
    with query_budget(CANCEL_BUDGET, exact=True):
        assert operator.post(f"/api/v2/orders/{order.id}/cancel").status_code == 200
