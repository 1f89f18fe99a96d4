"""What the catalog selectors hand to the serializers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson
import pytest

from catalog.selectors import book_get, book_list
from catalog.serializers import (
    BookDetailSerializer,
    BookListSerializer,
    BookSearchResultSerializer,
    book_detail_row,
    book_list_row,
    book_search_row,
)
from perf.recording import record_queries
from tests.factories import BookFactory, BookGenreFactory, GenreFactory

pytestmark = pytest.mark.django_db


def test_rows_carry_their_genres_as_a_plain_list_in_name_order(tenant):
    # A plain list per row (Prefetch to_attr): no related manager and filtered queryset
    # built per book, which cost more Python than the genres query itself.
    book = BookFactory(tenant=tenant)
    for name in ("Sea", "Crime"):
        BookGenreFactory(book=book, genre=GenreFactory(tenant=tenant, name=name))
    BookFactory(tenant=tenant)
    rows = {
        "list": list(book_list(tenant=tenant)),
        "detail": [book_get(tenant=tenant, book_id=book.id)],
    }
    for use, books in rows.items():
        with record_queries() as recording:
            genres = {b.id: [g.name for g in b.genre_list] for b in books}
        assert recording.count == 0, use
        assert genres[book.id] == ["Crime", "Sea"], use
        assert all(not getattr(b, "_prefetched_objects_cache", None) for b in books), use


@pytest.mark.parametrize(
    ("price", "published_on", "n_genres"),
    [
        (Decimal("12.50"), dt.date(2021, 3, 14), 2),
        (Decimal("0.00"), None, 0),
        (Decimal("0"), dt.date(1, 1, 1), 1),
        (Decimal("99999999.99"), dt.date(9999, 12, 31), 3),
    ],
)
def test_plain_rows_are_the_serializers_output(tenant, price, published_on, n_genres):
    # The hot reads render rows with plain functions; the serializers stay the schema.
    # Same keys, order, types and text, decimals included.
    book = BookFactory(tenant=tenant, price=price, published_on=published_on, title="Ünïcode ✓")
    for i in range(n_genres):
        BookGenreFactory(book=book, genre=GenreFactory(tenant=tenant, name=f"G{3 - i}"))
    [listed] = book_list(tenant=tenant)
    detailed = book_get(tenant=tenant, book_id=book.id)
    listed.rank = detailed.rank = 0.0607927
    cases = [
        (book_list_row(listed), BookListSerializer(listed).data),
        (book_search_row(listed), BookSearchResultSerializer(listed).data),
        (book_detail_row(detailed), BookDetailSerializer(detailed).data),
    ]
    for plain, drf in cases:
        assert orjson.dumps(plain) == orjson.dumps(drf)
        assert list(plain) == list(drf)
