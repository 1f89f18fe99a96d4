"""Query-string filters for the orders list."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from orders.models import Order, OrderStatus
from orders.querysets import OrderQuerySet

ACTIVE = "active"


class OrderFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=[(ACTIVE, ACTIVE), *OrderStatus.choices],
        method="filter_status",
        help_text=(
            "`active` (the default: neither cancelled nor archived) or one status. "
            "Each is served by an index that leads with the tenant."
        ),
    )

    class Meta:
        model = Order
        fields: list[str] = []

    def filter_status(self, queryset: QuerySet[Order], name: str, value: str) -> QuerySet[Order]:
        if value == ACTIVE:
            assert isinstance(queryset, OrderQuerySet)
            return queryset.active()
        return queryset.filter(status=value)

    def filter_queryset(self, queryset: QuerySet[Order]) -> QuerySet[Order]:
        if not self.form.cleaned_data.get("status"):
            assert isinstance(queryset, OrderQuerySet)
            queryset = queryset.active()
        return super().filter_queryset(queryset)
