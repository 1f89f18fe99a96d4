"""perf's tenant-scope guard, on for every test: a statement on a tenant-owned table
without a tenant filter, outside the scoped querysets, fails the test that ran it."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction

from catalog.models import Book
from orders.models import Order, OrderStatus
from orders.services import CANCELLABLE, OrderLine, OrderNotCancellableError, order_place
from perf import pytest_plugin
from perf.tenancy import UnscopedAccessError, guard_scope, tenant_scope
from tenants.models import Tenant, User
from tenants.querysets import TenantScopedQuerySet
from tenants.scoping import tenant_owned_models
from tests.factories import BookFactory, BookGenreFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

FIX = "fix: read through the model's scoped manager, Model.objects.for_tenant(tenant)"


def test_every_tenant_owned_table_is_guarded():
    scope = tenant_scope()
    assert scope is not None
    assert scope.tables == {model._meta.db_table for model in tenant_owned_models(identity=False)}
    assert {"catalog_book", "catalog_bookgenre", "orders_order", "orders_orderitem"} <= (
        scope.tables
    )
    assert "tenants_user" not in scope.tables  # identity: read before a tenant is known


# The leak of the issue, as a test-local copy of an older order_cancel: a plain lookup by
# id, then the order's status in the 409 body, whichever tenant's order it was.
@transaction.atomic
def order_cancel_leaky(*, tenant: Tenant, order_id: uuid.UUID, user: User | None) -> None:
    order = Order._base_manager.select_for_update().only("id", "status").get(pk=order_id)
    if order.status not in CANCELLABLE:
        raise OrderNotCancellableError(
            f"A {order.status} order cannot be cancelled.", details={"status": order.status}
        )


@pytest.mark.allow_unscoped("the unscoped lookup is the subject of the test")
def test_an_unscoped_lookup_in_a_service_is_reported_with_its_call_site(tenant, other_tenant):
    theirs = OrderFactory(tenant=other_tenant, status=OrderStatus.SHIPPED)
    with guard_scope() as guard, pytest.raises(OrderNotCancellableError):
        order_cancel_leaky(tenant=tenant, order_id=theirs.id, user=None)
    [found] = guard.unscoped
    message = found.describe()
    assert message.startswith("unscoped access to tenant-owned table orders_order")
    assert "at tests/test_scope_guard.py:" in message and "in order_cancel_leaky" in message
    assert FIX in message


@pytest.mark.allow_unscoped("the broken scope is the subject of the test")
def test_a_scope_that_forgets_its_filter_is_reported_at_the_service(tenant, monkeypatch):
    user = UserFactory(tenant=tenant)
    book = BookFactory(tenant=tenant, stock=3)
    order = order_place(tenant=tenant, user=user, items=[OrderLine(book.id, 1)]).order

    def for_tenant_id_without_filter(self, tenant_id):
        clone = self._chain()
        clone._scoped_tenant_id = tenant_id
        return clone

    monkeypatch.setattr(TenantScopedQuerySet, "for_tenant_id", for_tenant_id_without_filter)
    from orders.services import order_cancel

    with guard_scope() as guard:
        order_cancel(tenant=tenant, order_id=order.id, user=user)
    sites = [u.call_site or "" for u in guard.unscoped]
    assert sites and sites[0].startswith("orders/services.py:")
    assert "in order_cancel" in sites[0]


@pytest.mark.allow_unscoped("the raw statement is the subject of the test")
def test_raw_sql_without_the_tenant_filter_is_reported(tenant):
    BookFactory(tenant=tenant)
    with guard_scope() as guard, connection.cursor() as cursor:
        cursor.execute("SELECT id FROM catalog_book WHERE stock > %s", [0])
        cursor.execute("SELECT id FROM catalog_book WHERE tenant_id = %s", [tenant.id])
    assert [u.table for u in guard.unscoped] == ["catalog_book"]


def test_scoped_reads_and_rows_in_hand_pass(tenant):
    book = BookGenreFactory(book__tenant=tenant).book
    order = OrderFactory(tenant=tenant)
    with guard_scope() as guard:
        fetched = Book.objects.for_tenant(tenant).get(pk=book.pk)
        fetched.refresh_from_db()
        assert fetched.author.name  # a forward relation of a row in hand
        assert list(fetched.genres.all())  # a related manager of one row
        fetched.save()
        assert Book.objects.across_tenants("test").filter(pk=book.pk).exists()
        assert list(order.items.all()) == []
        Order.objects.for_tenant(tenant).filter(pk=order.pk).delete()
    assert guard.unscoped == []


class _Item:
    nodeid = "tests/test_generated.py::test_leak"

    def __init__(self, markers=()):
        self.markers = {m.name: m for m in markers}

    def get_closest_marker(self, name):
        return self.markers.get(name)


def _run_as_a_test(item, body):
    """Drive the plugin's hook around ``body`` as pytest does around a test."""
    hook = pytest_plugin.pytest_runtest_call(item)
    next(hook)
    body()
    with pytest.raises(StopIteration):
        hook.send(None)


@pytest.mark.allow_unscoped("runs a test body with an unscoped lookup through the plugin")
def test_the_plugin_fails_any_test_that_runs_an_unscoped_statement(other_tenant):
    theirs = OrderFactory(tenant=other_tenant)

    def leak():
        assert Order._base_manager.get(pk=theirs.pk).status

    with pytest.raises(UnscopedAccessError) as failed:
        _run_as_a_test(_Item(), leak)
    message = str(failed.value)
    assert message.startswith("in test tests/test_generated.py::test_leak\nunscoped access")
    assert "at tests/test_scope_guard.py:" in message and FIX in message
    # The marker exempts a test that does it on purpose.
    _run_as_a_test(_Item([pytest.mark.allow_unscoped("on purpose").mark]), leak)


def test_the_guard_ignores_statements_of_tables_it_does_not_own(tenant):
    with guard_scope() as guard:
        list(User.objects.filter(username="x"))
    assert guard.unscoped == []
