"""Orders under real concurrency: parallel HTTP clients against a live server, each
request in its own server thread and database connection."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest

from catalog.models import Book
from orders.models import Order
from tenants.services import api_token_issue
from tests.factories import BookFactory, TenantFactory, UserFactory

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.allow_repeats("parallel clients repeat the same requests by design"),
]


class Http:
    def __init__(self, base_url: str, raw_key: str) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"}

    def post(self, path: str, body: object = None, headers: dict | None = None):
        request = urllib.request.Request(
            self.base_url + path,
            data=orjson.dumps(body) if body is not None else b"",
            headers={**self.headers, **(headers or {})},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, orjson.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, orjson.loads(error.read())


def in_parallel(calls):
    """Run the calls at the same moment (a barrier releases them together)."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


@pytest.fixture
def http(live_server):
    tenant = TenantFactory()
    _, raw = api_token_issue(user=UserFactory(tenant=tenant))
    client = Http(live_server.url, raw)
    client.tenant = tenant
    return client


def order_of(*pairs):
    return {"items": [{"book_id": str(book.id), "quantity": qty} for book, qty in pairs]}


def test_thirty_orders_for_the_last_ten_copies(http):
    book = BookFactory(tenant=http.tenant, stock=10)
    results = in_parallel(
        [lambda: http.post("/api/v2/orders", order_of((book, 1))) for _ in range(30)]
    )
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 10, 409: 20}, results
    assert all(body["error"]["code"] == "out_of_stock" for s, body in results if s == 409)
    assert Book.objects.across_tenants("test").get(pk=book.pk).stock == 0
    assert Order.objects.filter(tenant=http.tenant).count() == 10


def test_opposite_lock_orders_never_deadlock(http):
    a = BookFactory(tenant=http.tenant, stock=100)
    b = BookFactory(tenant=http.tenant, stock=100)
    forward, backward = order_of((a, 1), (b, 1)), order_of((b, 1), (a, 1))
    results = in_parallel(
        [
            lambda body=(forward if i % 2 else backward): http.post("/api/v2/orders", body)
            for i in range(20)
        ]
    )
    assert [status for status, _ in results] == [201] * 20, results
    assert sorted(
        Book.objects.across_tenants("test")
        .filter(pk__in=[a.pk, b.pk])
        .values_list("stock", flat=True)
    ) == [
        80,
        80,
    ]


def test_concurrent_retries_with_one_key_make_one_order(http):
    book = BookFactory(tenant=http.tenant, stock=50)
    headers = {"Idempotency-Key": "one-order-please"}
    results = in_parallel(
        [lambda: http.post("/api/v2/orders", order_of((book, 2)), headers) for _ in range(8)]
    )
    statuses = Counter(status for status, _ in results)
    # One places it; the others either replay it (200) or find it in flight (409).
    assert statuses[201] == 1 and set(statuses) <= {200, 201, 409}, results
    assert all(
        body["error"]["code"] == "idempotency_key_in_flight" for s, body in results if s == 409
    )
    order_ids = {body["id"] for status, body in results if status in (200, 201)}
    assert len(order_ids) == 1
    assert Order.objects.filter(tenant=http.tenant).count() == 1
    assert Book.objects.across_tenants("test").get(pk=book.pk).stock == 48
    # And a retry after the fact replays it.
    status, body = http.post("/api/v2/orders", order_of((book, 2)), headers)
    assert (status, body["id"]) == (200, order_ids.pop())


def test_parallel_cancels_restore_stock_once(http):
    book = BookFactory(tenant=http.tenant, stock=5)
    status, placed = http.post("/api/v2/orders", order_of((book, 3)))
    assert status == 201
    results = in_parallel(
        [lambda: http.post(f"/api/v2/orders/{placed['id']}/cancel") for _ in range(6)]
    )
    assert [status for status, _ in results] == [200] * 6
    assert Book.objects.across_tenants("test").get(pk=book.pk).stock == 5


def test_orders_and_cancels_interleaved(http):
    book = BookFactory(tenant=http.tenant, stock=4)
    placed = [http.post("/api/v2/orders", order_of((book, 1)))[1]["id"] for _ in range(4)]
    calls = [lambda oid=oid: http.post(f"/api/v2/orders/{oid}/cancel") for oid in placed]
    calls += [lambda: http.post("/api/v2/orders", order_of((book, 1))) for _ in range(8)]
    results = in_parallel(calls)
    assert all(status < 500 for status, _ in results), results
    new_orders = sum(1 for status, body in results if status == 201)
    assert Book.objects.across_tenants("test").get(pk=book.pk).stock == 4 - new_orders
    assert new_orders <= 4
