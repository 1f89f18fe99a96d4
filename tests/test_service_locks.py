"""Every write service declares the locks it takes (perf.locks.takes_locks), and every
call of it in any test is checked against that declaration (PERF['LOCK_CHECK'])."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from decimal import Decimal

import pytest

import catalog.services
from catalog.models import Book
from catalog.services import book_delete, books_reprice, books_restock
from orders.models import Order, OrderStatus
from orders.querysets import OrderQuerySet
from orders.services import OrderLine, order_cancel, order_place, orders_mark_shipped
from perf.locks import LockOrderError, assert_locks, declared_locks, record_locks
from tenants.querysets import TenantScopedQuerySet
from tests.factories import BookFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

SERVICE_MODULES = [
    *(
        f"catalog.services.{m.name}"
        for m in pkgutil.iter_modules(catalog.services.__path__)
        if m.name != "errors"
    ),
    "orders.services",
    "tenants.services",
]
# Public functions of those modules that write nothing (checked data: each must exist).
NOT_WRITES = {
    "catalog.services.books.is_isbn_conflict": "reads an IntegrityError",
    "orders.services.order_lines_merge": "merges and validates lines in memory",
}


def public_functions():
    for name in SERVICE_MODULES:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (
                inspect.isfunction(value)
                and not attr.startswith("_")
                and value.__module__ == module.__name__
            ):
                yield f"{name}.{attr}", value


def test_every_write_service_declares_its_locks():
    functions = dict(public_functions())
    assert set(NOT_WRITES) <= set(functions), "NOT_WRITES names a function that is gone"
    undeclared = [
        name
        for name, function in functions.items()
        if name not in NOT_WRITES and declared_locks(function) is None
    ]
    assert undeclared == [], (
        "declare the tables each of these locks, in lock order, with "
        "@perf.locks.takes_locks(...) (none: @takes_locks())"
    )


def test_the_lock_check_is_on_in_the_tests():
    from perf.conf import perf_settings

    assert perf_settings().LOCK_CHECK


# --- The locks each write path takes, in order -------------------------------------------


def test_order_place_locks_the_books_then_takes_their_stock(tenant):
    user = UserFactory(tenant=tenant)
    books = BookFactory.create_batch(2, tenant=tenant, stock=5)
    with record_locks() as taken:
        order_place(
            tenant=tenant,
            user=user,
            items=[OrderLine(b.id, 1) for b in books],
            idempotency_key="k1",
        )
    assert_locks(
        taken,
        [("advisory", "ADVISORY"), ("catalog_book", "FOR UPDATE"), ("catalog_book", "UPDATE")],
    )


def test_order_cancel_locks_the_order_then_its_books(tenant):
    user = UserFactory(tenant=tenant)
    book = BookFactory(tenant=tenant, stock=5)
    order = order_place(tenant=tenant, user=user, items=[OrderLine(book.id, 2)]).order
    with record_locks() as taken:
        order_cancel(tenant=tenant, order_id=order.id, user=user)
    assert_locks(
        taken,
        [
            ("orders_order", "FOR UPDATE"),
            ("catalog_book", "FOR UPDATE"),
            ("catalog_book", "UPDATE"),
            ("orders_order", "UPDATE"),
        ],
    )


def test_book_delete_locks_the_book_before_deleting_it(tenant):
    book = BookFactory(tenant=tenant)
    with record_locks() as taken:
        book_delete(tenant=tenant, book_id=book.id)
    locks = taken.locks()
    assert locks[0] == ("catalog_book", "FOR UPDATE")
    assert locks[-1] == ("catalog_book", "DELETE")


# --- A dropped FOR UPDATE fails every test that calls the service ------------------------


def _without_for_update(self):
    """lock_in_id_order with the lock dropped: the regression."""
    return self.order_by("pk")


def _order_with_book(tenant):
    user = UserFactory(tenant=tenant)
    book = BookFactory(tenant=tenant, stock=5)
    return order_place(tenant=tenant, user=user, items=[OrderLine(book.id, 1)]).order


@pytest.mark.parametrize(
    ("call", "written", "site"),
    [
        (
            lambda t: book_delete(tenant=t, book_id=BookFactory(tenant=t).id),
            "catalog_book (DELETE)",
            "catalog/services/books.py:",
        ),
        (
            lambda t: books_reprice(
                tenant=t, book_ids=[BookFactory(tenant=t).id], percent=Decimal(10)
            ),
            "catalog_book (UPDATE)",
            "catalog/services/bulk_edits.py:",
        ),
        (
            lambda t: books_restock(tenant=t, book_ids=[BookFactory(tenant=t).id], quantity=1),
            "catalog_book (UPDATE)",
            "catalog/services/bulk_edits.py:",
        ),
        (
            lambda t: orders_mark_shipped(
                tenant=t, order_ids=[OrderFactory(tenant=t, status=OrderStatus.PAID).id]
            ),
            "orders_order (UPDATE)",
            "orders/services.py:",
        ),
        (
            lambda t: order_place(
                tenant=t,
                user=UserFactory(tenant=t),
                items=[OrderLine(BookFactory(tenant=t, stock=3).id, 1)],
            ),
            "catalog_book (UPDATE)",
            "catalog/services/stock.py:",
        ),
    ],
    ids=["book_delete", "books_reprice", "books_restock", "orders_mark_shipped", "order_place"],
)
def test_a_write_without_its_lock_fails_with_the_call_site_and_the_fix(
    tenant, monkeypatch, call, written, site
):
    monkeypatch.setattr(TenantScopedQuerySet, "lock_in_id_order", _without_for_update)
    with pytest.raises(LockOrderError) as failed:
        call(tenant)
    message = str(failed.value)
    assert f"writes {written} without first locking its rows" in message
    assert f"at {site}" in message
    assert "fix: lock the rows before writing them" in message
    assert "lock_in_id_order()" in message


def test_order_cancel_without_the_order_lock_fails(tenant, monkeypatch):
    order = _order_with_book(tenant)
    # select_for_update() dropped from the orders' lookups alone.
    monkeypatch.setattr(OrderQuerySet, "select_for_update", lambda self, **kw: self)
    with pytest.raises(LockOrderError) as failed:
        order_cancel(tenant=tenant, order_id=order.id, user=None)
    message = str(failed.value)
    assert "order_cancel: locks differ" in message
    assert "writes orders_order (UPDATE) without first locking" in message
    assert "at orders/services.py:" in message


def test_locks_out_of_the_declared_order_fail(tenant):
    from perf.locks import takes_locks

    @takes_locks("orders_order", "catalog_book")
    def books_then_orders(*, tenant):
        list(Book.objects.for_tenant(tenant).lock_in_id_order())
        list(Order.objects.for_tenant(tenant).lock_in_id_order())

    BookFactory(tenant=tenant)
    with pytest.raises(LockOrderError, match=r"locks \['catalog_book', 'orders_order'\] in"):
        books_then_orders(tenant=tenant)
