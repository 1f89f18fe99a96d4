"""Query-string filters for the catalog list (django-filter: parsing, validation, schema)."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet
from drf_spectacular.utils import extend_schema_field

from catalog.models import Book, BookGenre
from catalog.querysets import BOOK_ORDERINGS
from catalog.serializers import MONEY_PATTERN

_MONEY = re.compile(MONEY_PATTERN)


class MoneyFormField(forms.CharField):
    """A price exactly as the schema's pattern says (no sign, exponent or spaces)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strip=False, **kwargs)

    def to_python(self, value: Any) -> Decimal | None:
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        if not _MONEY.fullmatch(text):
            raise ValidationError("Enter a price like 12.50.", code="invalid")
        return Decimal(text)


@extend_schema_field({"type": "string", "format": "decimal", "pattern": MONEY_PATTERN})
class MoneyFilter(django_filters.Filter):
    field_class = MoneyFormField


class BookFilterSet(django_filters.FilterSet):
    """Ids of other tenants' authors, publishers or genres simply match nothing: the
    queryset being filtered is already scoped to the request's tenant."""

    author = django_filters.UUIDFilter(field_name="author_id", help_text="Author id.")
    publisher = django_filters.UUIDFilter(field_name="publisher_id", help_text="Publisher id.")
    genre = django_filters.UUIDFilter(method="filter_genre", help_text="Genre id.")
    min_price = MoneyFilter(
        field_name="price", lookup_expr="gte", help_text="Lowest price, inclusive, e.g. `9.50`."
    )
    max_price = MoneyFilter(
        field_name="price", lookup_expr="lte", help_text="Highest price, inclusive, e.g. `20`."
    )
    ordering = django_filters.ChoiceFilter(
        choices=[(key, key) for key in BOOK_ORDERINGS],
        method="order",
        empty_label=None,
        help_text="Sort key (an index serves each); the id breaks ties. Default `title`.",
    )

    # No filter (nor the ordering) applies without its parameter: the backend skips this
    # FilterSet when none is sent (shelfwise.http.filters.FilterBackend; tested).
    inert_without_params = True

    class Meta:
        model = Book
        fields: list[str] = []

    def filter_genre(self, queryset: QuerySet[Book], name: str, value: uuid.UUID) -> QuerySet[Book]:
        # EXISTS rather than a join: no duplicate rows, no DISTINCT.
        tagged = BookGenre.objects.filter(book_id=OuterRef("pk"), genre_id=value)
        return queryset.filter(Exists(tagged))

    def order(self, queryset: QuerySet[Book], name: str, value: str) -> QuerySet[Book]:
        return queryset.order_by(*BOOK_ORDERINGS[value])
