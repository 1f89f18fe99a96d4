"""Orders API: placement, idempotency, list, detail, cancel; query counts, bad input and
tenant isolation. Concurrency is in test_orders_concurrency.py."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from catalog.models import Book
from orders.models import Order, OrderItem, OrderStatus
from perf.budgets import budget
from perf.pytest_plugin import query_budget
from tenants.tests.api_client import client_for, error_code
from tests.factories import BookFactory, OrderFactory, OrderItemFactory, UserFactory

pytestmark = [
    pytest.mark.django_db,
]

# Declared with the views (orders/views.py), where their arithmetic is.
PLACE_BUDGET = budget("POST /api/v2/orders")
# The idempotency key adds its advisory lock and the look-up of an earlier order.
PLACE_WITH_KEY_BUDGET = PLACE_BUDGET + 2
LIST_BUDGET = budget("GET /api/v2/orders")
DETAIL_BUDGET = budget("GET /api/v2/orders/{order_id}")
CANCEL_BUDGET = budget("POST /api/v2/orders/{order_id}/cancel")


def items_body(*pairs):
    return {"items": [{"book_id": str(book.id), "quantity": qty} for book, qty in pairs]}


def stocks(*books):
    by_id = dict(
        Book.objects.across_tenants("test")
        .filter(pk__in=[b.pk for b in books])
        .values_list("pk", "stock")
    )
    return tuple(by_id[b.pk] for b in books)


def stock(book):
    return stocks(book)[0]


# --- Place -------------------------------------------------------------------------------


def test_place_an_order(member, tenant):
    a = BookFactory(tenant=tenant, price=Decimal("12.50"), stock=5)
    b = BookFactory(tenant=tenant, price=Decimal("0.10"), stock=5)
    response = member.post("/api/v2/orders", items_body((a, 2), (b, 3)))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending"
    assert body["total"] == "25.30"
    assert body["created_at"].endswith("Z")
    assert sorted((i["title"], i["quantity"], i["unit_price"]) for i in body["items"]) == sorted(
        [(a.title, 2, "12.50"), (b.title, 3, "0.10")]
    )
    order = Order.objects.across_tenants("test").get(pk=body["id"])
    assert order.tenant_id == tenant.id and order.user_id == member.user.id
    assert order.total == Decimal("25.30")
    assert stocks(a, b) == (3, 2)


def test_unit_prices_are_copied_not_referenced(member, tenant):
    book = BookFactory(tenant=tenant, price=Decimal("10.00"))
    order_id = member.post("/api/v2/orders", items_body((book, 1))).json()["id"]
    Book.objects.across_tenants("test").filter(pk=book.pk).update(price=Decimal("99.00"))
    body = member.get(f"/api/v2/orders/{order_id}").json()
    assert body["items"][0]["unit_price"] == "10.00" and body["total"] == "10.00"


@pytest.mark.parametrize("n_items", [1, 20])
def test_place_query_count_does_not_grow_with_items(member, tenant, n_items):
    books = BookFactory.create_batch(n_items, tenant=tenant)
    with query_budget(PLACE_BUDGET, exact=True):
        response = member.post("/api/v2/orders", items_body(*((b, 1) for b in books)))
    assert response.status_code == 201
    assert len(response.json()["items"]) == n_items


@pytest.mark.parametrize("n_items", [1, 20])
def test_place_with_idempotency_key_query_count(member, tenant, n_items):
    books = BookFactory.create_batch(n_items, tenant=tenant)
    with query_budget(PLACE_WITH_KEY_BUDGET, exact=True):
        response = member.post(
            "/api/v2/orders",
            items_body(*((b, 1) for b in books)),
            headers={"Idempotency-Key": "k-1"},
        )
    assert response.status_code == 201


def test_repeated_books_are_merged(member, tenant):
    book = BookFactory(tenant=tenant, stock=10)
    body = member.post("/api/v2/orders", items_body((book, 1), (book, 2))).json()
    assert [(i["book_id"], i["quantity"]) for i in body["items"]] == [(str(book.id), 3)]
    assert stock(book) == 7


def test_merged_quantity_above_the_limit_is_400(member, tenant):
    book = BookFactory(tenant=tenant, stock=5000)
    response = member.post("/api/v2/orders", items_body((book, 600), (book, 600)))
    assert response.status_code == 400
    assert error_code(response) == "invalid_items"
    assert stock(book) == 5000 and not Order.objects.across_tenants("test").exists()


def test_short_stock_is_409_with_detail_and_changes_nothing(member, tenant):
    plenty = BookFactory(tenant=tenant, stock=10)
    scarce = BookFactory(tenant=tenant, stock=1)
    response = member.post("/api/v2/orders", items_body((plenty, 1), (scarce, 2)))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "out_of_stock"
    assert error["details"] == {
        "items": [{"book_id": str(scarce.id), "requested": 2, "available": 1}]
    }
    assert stocks(plenty, scarce) == (10, 1)
    assert not Order.objects.across_tenants("test").exists()


def test_another_tenants_book_is_an_unknown_book(member, tenant, other_tenant):
    mine = BookFactory(tenant=tenant, stock=5)
    theirs = BookFactory(tenant=other_tenant, stock=5)
    missing = uuid.uuid4()
    body = {
        "items": [
            {"book_id": str(mine.id), "quantity": 1},
            {"book_id": str(theirs.id), "quantity": 1},
            {"book_id": str(missing), "quantity": 1},
        ]
    }
    response = member.post("/api/v2/orders", body)
    assert response.status_code == 400
    assert error_code(response) == "unknown_books"
    assert set(response.json()["error"]["details"]["book_ids"]) == {str(theirs.id), str(missing)}
    assert stocks(mine, theirs) == (5, 5)
    assert not Order.objects.across_tenants("test").exists()


def test_order_total_beyond_numeric_10_2_is_400_not_500(member, tenant):
    dear = BookFactory.create_batch(3, tenant=tenant, price=Decimal("99999999.99"), stock=5)
    response = member.post("/api/v2/orders", items_body(*((b, 1) for b in dear)))
    assert response.status_code == 400
    assert error_code(response) == "invalid_items"
    assert not Order.objects.across_tenants("test").exists()


@pytest.mark.parametrize(
    "body",
    [
        b'{"items": [',
        b"not json at all",
        "[]",
        "{}",
        '{"items": []}',
        '{"items": {}}',
        '{"items": "book"}',
        '{"items": [{"book_id": "nope", "quantity": 1}]}',
        '{"items": [{"book_id": null, "quantity": 1}]}',
        '{"items": [{"quantity": 1}]}',
        '{"items": [{"book_id": "BOOK", "quantity": 0}]}',
        '{"items": [{"book_id": "BOOK", "quantity": -1}]}',
        '{"items": [{"book_id": "BOOK", "quantity": 1001}]}',
        '{"items": [{"book_id": "BOOK", "quantity": 1e100}]}',
        '{"items": [{"book_id": "BOOK", "quantity": "lots"}]}',
        '{"items": [{"book_id": "BOOK", "quantity": true}]}',
        '{"items": [{"book_id": "BOOK", "quantity": 99999999999999999999999}]}',
    ],
)
def test_bad_order_bodies_are_400_and_write_nothing(member, tenant, body):
    book = BookFactory(tenant=tenant, stock=5)
    if isinstance(body, str):
        body = body.replace("BOOK", str(book.id))
    response = member.post("/api/v2/orders", body)
    assert response.status_code == 400, response.content
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert stock(book) == 5 and not Order.objects.across_tenants("test").exists()


def test_too_many_items_is_400(member, tenant):
    body = {"items": [{"book_id": str(uuid.uuid4()), "quantity": 1} for _ in range(101)]}
    response = member.post("/api/v2/orders", body)
    assert response.status_code == 400
    assert not Order.objects.across_tenants("test").exists()


def test_anonymous_cannot_order(anonymous, tenant):
    book = BookFactory(tenant=tenant)
    assert anonymous.post("/api/v2/orders", items_body((book, 1))).status_code == 401
    assert not Order.objects.across_tenants("test").exists()


# --- Idempotency -------------------------------------------------------------------------


def test_same_key_and_body_returns_the_same_order(member, tenant):
    book = BookFactory(tenant=tenant, stock=5)
    headers = {"Idempotency-Key": "order-2026-0001"}
    first = member.post("/api/v2/orders", items_body((book, 2)), headers=headers)
    retry = member.post("/api/v2/orders", items_body((book, 2)), headers=headers)
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert Order.objects.across_tenants("test").count() == 1 and stock(book) == 3


def test_same_key_with_another_body_is_422(member, tenant):
    book = BookFactory(tenant=tenant, stock=5)
    headers = {"Idempotency-Key": "k"}
    first = member.post("/api/v2/orders", items_body((book, 1)), headers=headers)
    response = member.post("/api/v2/orders", items_body((book, 2)), headers=headers)
    assert response.status_code == 422
    assert error_code(response) == "idempotency_key_reused"
    assert response.json()["error"]["details"] == {"order_id": first.json()["id"]}
    assert Order.objects.across_tenants("test").count() == 1 and stock(book) == 4


def test_keys_are_per_tenant(member, other_member, tenant, other_tenant):
    mine = BookFactory(tenant=tenant)
    theirs = BookFactory(tenant=other_tenant)
    headers = {"Idempotency-Key": "shared"}
    a = member.post("/api/v2/orders", items_body((mine, 1)), headers=headers)
    b = other_member.post("/api/v2/orders", items_body((theirs, 1)), headers=headers)
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


def test_a_failed_request_does_not_use_up_its_key(member, tenant):
    book = BookFactory(tenant=tenant, stock=0)
    headers = {"Idempotency-Key": "retry-me"}
    assert member.post("/api/v2/orders", items_body((book, 1)), headers=headers).status_code == 409
    Book.objects.across_tenants("test").filter(pk=book.pk).update(stock=1)
    assert member.post("/api/v2/orders", items_body((book, 1)), headers=headers).status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "ключ"])
def test_malformed_idempotency_keys_are_400(member, tenant, key):
    book = BookFactory(tenant=tenant, stock=5)
    response = member.post(
        "/api/v2/orders", items_body((book, 1)), headers={"Idempotency-Key": key}
    )
    assert response.status_code == 400
    assert not Order.objects.across_tenants("test").exists()


# --- List and detail ---------------------------------------------------------------------


def orders_with_items(tenant, n_orders, n_items=2, user=None, **kwargs):
    """Orders of ``user`` (a new member of ``tenant`` if not given)."""
    user = user or UserFactory(tenant=tenant)
    orders = OrderFactory.create_batch(n_orders, tenant=tenant, user=user, **kwargs)
    books = BookFactory.create_batch(n_items, tenant=tenant)
    for order in orders:
        for book in books:
            OrderItemFactory(order=order, book=book)
    return orders


def test_list_shows_active_orders_newest_first_by_default(member, tenant, other_tenant):
    active = orders_with_items(tenant, 3, user=member.user)
    orders_with_items(tenant, 1, user=member.user, status=OrderStatus.CANCELLED)
    orders_with_items(tenant, 1, user=member.user, status=OrderStatus.ARCHIVED)
    orders_with_items(other_tenant, 2)
    body = member.get("/api/v2/orders").json()
    assert body["count"] == 3
    assert [o["id"] for o in body["results"]] == [
        str(o.id) for o in sorted(active, key=lambda o: o.created_at, reverse=True)
    ]
    assert len(body["results"][0]["items"]) == 2
    assert {"title", "quantity", "unit_price", "book_id"} <= set(body["results"][0]["items"][0])


def test_list_by_status(member, tenant):
    cancelled = orders_with_items(tenant, 2, user=member.user, status=OrderStatus.CANCELLED)
    orders_with_items(tenant, 1, user=member.user)
    body = member.get("/api/v2/orders", {"status": "cancelled"}).json()
    assert {o["id"] for o in body["results"]} == {str(o.id) for o in cancelled}
    assert member.get("/api/v2/orders", {"status": "active"}).json()["count"] == 1
    bad = member.get("/api/v2/orders", {"status": "lost"})
    assert bad.status_code == 400 and error_code(bad) == "invalid"


@pytest.mark.parametrize("n_orders", [1, 30])
def test_list_query_count_does_not_grow_with_orders(member, tenant, n_orders):
    orders_with_items(tenant, n_orders, n_items=3, user=member.user)
    with query_budget(LIST_BUDGET, exact=True):
        response = member.get("/api/v2/orders", {"limit": 100})
    assert len(response.json()["results"]) == n_orders


@pytest.mark.parametrize("n_items", [1, 20])
def test_detail_query_count_does_not_grow_with_items(member, tenant, n_items):
    order = orders_with_items(tenant, 1, n_items=n_items, user=member.user)[0]
    with query_budget(DETAIL_BUDGET, exact=True):
        response = member.get(f"/api/v2/orders/{order.id}")
    assert response.status_code == 200
    assert len(response.json()["items"]) == n_items


def test_another_tenants_order_is_404_everywhere(member, other_tenant):
    theirs = orders_with_items(other_tenant, 1)[0]
    assert member.get(f"/api/v2/orders/{theirs.id}").status_code == 404
    response = member.post(f"/api/v2/orders/{theirs.id}/cancel")
    assert response.status_code == 404 and error_code(response) == "not_found"
    theirs.refresh_from_db()
    assert theirs.status == OrderStatus.PENDING


# --- Cancel ------------------------------------------------------------------------------


def test_cancel_restores_stock_and_is_idempotent(member, tenant):
    a = BookFactory(tenant=tenant, stock=5)
    b = BookFactory(tenant=tenant, stock=5)
    order_id = member.post("/api/v2/orders", items_body((a, 2), (b, 5))).json()["id"]
    assert stocks(a, b) == (3, 0)
    first = member.post(f"/api/v2/orders/{order_id}/cancel")
    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    assert stocks(a, b) == (5, 5)
    again = member.post(f"/api/v2/orders/{order_id}/cancel")
    assert again.status_code == 200 and again.json() == first.json()
    assert stocks(a, b) == (5, 5)
    assert member.get("/api/v2/orders").json()["count"] == 0


@pytest.mark.parametrize("n_items", [1, 20])
def test_cancel_query_count_does_not_grow_with_items(member, tenant, n_items):
    order = orders_with_items(tenant, 1, n_items=n_items, user=member.user)[0]
    with query_budget(CANCEL_BUDGET, exact=True):
        response = member.post(f"/api/v2/orders/{order.id}/cancel")
    assert response.status_code == 200


@pytest.mark.parametrize("status", [OrderStatus.SHIPPED, OrderStatus.ARCHIVED])
def test_shipped_or_archived_orders_cannot_be_cancelled(member, tenant, status):
    item = OrderItemFactory(order=OrderFactory(tenant=tenant, user=member.user, status=status))
    before = stock(item.book)
    response = member.post(f"/api/v2/orders/{item.order_id}/cancel")
    assert response.status_code == 409 and error_code(response) == "order_not_cancellable"
    assert stock(item.book) == before
    assert OrderItem.objects.across_tenants("test").get(pk=item.pk).order.status == status


def test_another_users_key_is_refused_not_replayed(member, tenant):
    book = BookFactory(tenant=tenant, stock=5)
    body = items_body((book, 1))
    first = member.post("/api/v2/orders", body, headers={"Idempotency-Key": "shared-key"})
    assert first.status_code == 201
    colleague = client_for(UserFactory(tenant=tenant))
    response = colleague.post("/api/v2/orders", body, headers={"Idempotency-Key": "shared-key"})
    assert response.status_code == 422
    assert first.json()["id"] not in response.content.decode()
    assert Order.objects.filter(tenant=tenant).count() == 1
