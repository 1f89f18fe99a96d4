"""Operator actions run through the services, only on the operator's tenant."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages

from catalog.models import Book
from catalog.services import book_search_documents_refresh
from orders.models import Order, OrderStatus
from orders.services import OrderLine, order_place
from tenants.models import ApiToken
from tenants.services import api_token_issue
from tests.admin.conftest import url
from tests.factories import BookFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

BOOKS = url("catalog_book_changelist")
ORDERS = url("orders_order_changelist")
TOKENS = url("tenants_apitoken_changelist")


def action(client, path, name, objects, **extra):
    data = {
        "action": name,
        "index": "0",
        "select_across": "0",
        "_selected_action": [str(obj.pk) for obj in objects],
        **extra,
    }
    return client.post(path, data)


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- Books ---------------------------------------------------------------------------------


def test_reprice_asks_for_the_percentage_then_applies_it(op, tenant):
    books = BookFactory.create_batch(3, tenant=tenant, price=Decimal("9.99"))
    form = action(op, BOOKS, "reprice", books)
    assert form.status_code == 200
    assert "admin/tenants/action_form.html" in [t.name for t in form.templates]
    assert form.context["count"] == 3
    done = action(op, BOOKS, "reprice", books, apply="1", percent="10")
    assert done.status_code == 302
    assert {b.price for b in Book.objects.filter(tenant=tenant)} == {Decimal("10.99")}
    assert "Changed the price of 3 books by 10%." in messages_of(done)


def test_reprice_rejects_an_invalid_percentage_and_changes_nothing(op, tenant):
    books = BookFactory.create_batch(2, tenant=tenant)
    response = action(op, BOOKS, "reprice", books, apply="1", percent="-150")
    assert response.status_code == 200
    assert response.context["form"].errors
    assert {b.price for b in Book.objects.filter(tenant=tenant)} == {Decimal("12.50")}


def test_actions_ignore_another_tenants_ids(op, tenant, other_tenant):
    mine = BookFactory(tenant=tenant, stock=1)
    theirs = BookFactory(tenant=other_tenant, stock=1)
    response = action(op, BOOKS, "restock", [mine, theirs], apply="1", quantity="5")
    assert response.status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.stock, theirs.stock) == (6, 1)


def test_restock_all_matching_a_search(op, tenant):
    storms = BookFactory.create_batch(3, tenant=tenant, title="Storm Tide", stock=0)
    calm = BookFactory(tenant=tenant, title="Calm Water", stock=0)
    book_search_documents_refresh(tenant=tenant)
    # "Select all matching" across pages: the browser sends the page's ticked ids and
    # select_across; the search stays in the URL.
    data = {
        "action": "restock",
        "index": "0",
        "select_across": "1",
        "_selected_action": [str(storms[0].pk)],
    }
    form = op.post(f"{BOOKS}?q=storm", data)
    assert form.status_code == 200 and form.context["count"] == 3
    assert b'name="select_across" value="1"' in form.content
    response = op.post(f"{BOOKS}?q=storm", {**data, "apply": "1", "quantity": "2"})
    assert response.status_code == 302
    assert sorted(Book.objects.filter(tenant=tenant).values_list("stock", flat=True)) == [
        0,
        2,
        2,
        2,
    ]
    calm.refresh_from_db()
    assert calm.stock == 0


def test_an_overflowing_price_is_reported_and_nothing_changes(op, tenant):
    cheap = BookFactory(tenant=tenant, price=Decimal("1.00"))
    dear = BookFactory(tenant=tenant, price=Decimal("99999999.00"))
    response = action(op, BOOKS, "reprice", [cheap, dear], apply="1", percent="10")
    assert response.status_code == 302
    assert any("No prices changed" in m for m in messages_of(response))
    cheap.refresh_from_db()
    assert cheap.price == Decimal("1.00")


def test_superuser_actions_span_tenants(admin_client, tenant, other_tenant):
    books = [BookFactory(tenant=tenant, stock=0), BookFactory(tenant=other_tenant, stock=0)]
    response = action(admin_client, BOOKS, "restock", books, apply="1", quantity="3")
    assert response.status_code == 302
    assert {
        b.stock for b in Book.objects.across_tenants("test").filter(pk__in=[b.pk for b in books])
    } == {3}


# --- Orders --------------------------------------------------------------------------------


def test_mark_shipped_ships_only_pending_and_paid_orders(op, tenant):
    orders = {
        status: OrderFactory(tenant=tenant, status=status)
        for status in (
            OrderStatus.PENDING,
            OrderStatus.PAID,
            OrderStatus.CANCELLED,
            OrderStatus.ARCHIVED,
        )
    }
    response = action(op, ORDERS, "mark_shipped", orders.values())
    assert response.status_code == 302
    statuses = {o.pk: o.status for o in Order.objects.filter(tenant=tenant)}
    assert statuses == {
        orders[OrderStatus.PENDING].pk: OrderStatus.SHIPPED,
        orders[OrderStatus.PAID].pk: OrderStatus.SHIPPED,
        orders[OrderStatus.CANCELLED].pk: OrderStatus.CANCELLED,
        orders[OrderStatus.ARCHIVED].pk: OrderStatus.ARCHIVED,
    }
    notes = messages_of(response)
    assert "Marked 2 orders shipped." in notes
    assert any("Left 2 orders" in note for note in notes)


@pytest.mark.allow_repeats("the setup places six orders, one order_place each")
def test_cancel_orders_restores_stock_through_order_cancel(op, tenant):
    """Six orders: order_cancel's queries repeat per order, and the request's N+1
    detector (raising in tests) stays quiet because the service declares the repeat."""
    user = UserFactory(tenant=tenant)
    books = BookFactory.create_batch(2, tenant=tenant, stock=20)
    orders = [
        order_place(
            tenant=tenant,
            user=user,
            items=[OrderLine(books[0].id, 2), OrderLine(books[1].id, 1)],
        ).order
        for _ in range(6)
    ]
    shipped = OrderFactory(tenant=tenant, user=user, status=OrderStatus.SHIPPED)
    response = action(op, ORDERS, "cancel_orders", [*orders, shipped])
    assert response.status_code == 302
    assert {b.stock for b in Book.objects.filter(tenant=tenant)} == {20}
    assert set(
        Order.objects.across_tenants("test")
        .filter(pk__in=[o.pk for o in orders])
        .values_list("status", flat=True)
    ) == {OrderStatus.CANCELLED}
    shipped.refresh_from_db()
    assert shipped.status == OrderStatus.SHIPPED
    assert "Cancelled 6 orders; their stock is back." in messages_of(response)


def test_order_actions_ignore_another_tenants_orders(op, other_tenant):
    theirs = OrderFactory(tenant=other_tenant, status=OrderStatus.PAID)
    action(op, ORDERS, "mark_shipped", [theirs])
    action(op, ORDERS, "cancel_orders", [theirs])
    theirs.refresh_from_db()
    assert theirs.status == OrderStatus.PAID


# --- Tokens --------------------------------------------------------------------------------


def test_revoke_tokens(op, tenant, other_tenant):
    mine, _ = api_token_issue(user=UserFactory(tenant=tenant))
    theirs, _ = api_token_issue(user=UserFactory(tenant=other_tenant))
    response = action(op, TOKENS, "revoke", [mine, theirs])
    assert response.status_code == 302
    assert ApiToken.objects.get(pk=mine.pk).revoked_at is not None
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None
    assert "Revoked 1 tokens." in messages_of(response)


def test_no_delete_action_where_deleting_is_refused(op):
    for path in (ORDERS, TOKENS):
        choices = dict(op.get(path).context["action_form"].fields["action"].choices)
        assert "delete_selected" not in choices
