"""The fail-closed guard: a tenant-owned queryset cannot reach the database unscoped."""

from __future__ import annotations

import pytest

from catalog.models import Book
from catalog.querysets import BookQuerySet
from orders.models import Order
from orders.querysets import OrderQuerySet
from tenants.querysets import UnscopedQueryError
from tests.factories import BookFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "evaluate",
    [
        list,
        len,
        lambda qs: qs.count(),
        lambda qs: qs.exists(),
        lambda qs: qs.first(),
        lambda qs: qs.get(pk=None),
        lambda qs: list(qs.iterator()),
        lambda qs: qs.aggregate(n=__import__("django.db.models", fromlist=["Count"]).Count("id")),
        lambda qs: qs.update(stock=0),
        lambda qs: qs.delete(),
        lambda qs: list(qs.values_list("id", flat=True)),
    ],
)
def test_unscoped_querysets_refuse_to_run(evaluate):
    BookFactory()
    with pytest.raises(UnscopedQueryError):
        evaluate(BookQuerySet(Book).filter(stock__gte=0))
    assert Book.objects.filter(stock=10).count() == 1  # nothing was updated or deleted


def test_scope_survives_chaining(tenant, other_tenant):
    mine = BookFactory(tenant=tenant)
    BookFactory(tenant=other_tenant)
    scoped = BookQuerySet(Book).for_tenant(tenant).with_detail_relations().order_by("title")
    assert list(scoped.filter(stock__gte=0).values_list("id", flat=True)) == [mine.id]


def test_relation_bundles_need_a_scope_first():
    with pytest.raises(UnscopedQueryError):
        BookQuerySet(Book).with_detail_relations()
    with pytest.raises(UnscopedQueryError):
        OrderQuerySet(Order).with_items()
