"""What the catalog selectors hand to the serializers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import orjson
import pytest

from catalog.selectors import book_export_rows, book_get, book_list
from catalog.serializers import (
    BookDetailSerializer,
    BookExportLineSerializer,
    BookListSerializer,
    BookSearchResultSerializer,
    book_detail_row,
    book_export_line,
    book_list_row,
    book_search_row,
)
from perf.recording import record_queries
from tests.factories import BookFactory, BookGenreFactory, GenreFactory

pytestmark = pytest.mark.django_db


def test_list_rows_are_plain_dicts_with_their_genres_in_name_order(tenant, other_tenant):
    # One query for the page: genres folded into each row (the tenant's genres only), no
    # model instances, no prefetch.
    book = BookFactory(tenant=tenant)
    for name in ("Sea", "Crime"):
        BookGenreFactory(book=book, genre=GenreFactory(tenant=tenant, name=name))
    BookFactory(tenant=tenant)
    with record_queries() as recording:
        rows = {row["id"]: row for row in book_list(tenant=tenant)}
    assert recording.count == 1
    assert rows[book.id]["genre_names"] == ["Crime", "Sea"]
    assert [str(i) for i in rows[book.id]["genre_ids"]] == [
        str(g.id) for g in sorted(book.genres.all(), key=lambda g: g.name)
    ]
    assert all(isinstance(row, dict) for row in rows.values())


def test_detail_carries_its_genres_as_a_plain_list_in_name_order(tenant):
    # A plain list (Prefetch to_attr): no related manager or filtered queryset built.
    book = BookFactory(tenant=tenant)
    for name in ("Sea", "Crime"):
        BookGenreFactory(book=book, genre=GenreFactory(tenant=tenant, name=name))
    detailed = book_get(tenant=tenant, book_id=book.id)
    with record_queries() as recording:
        genres = [g.name for g in detailed.genre_list]
    assert recording.count == 0
    assert genres == ["Crime", "Sea"]
    assert not getattr(detailed, "_prefetched_objects_cache", None)


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
    # The hot reads render rows with plain functions, the pages from values() rows; the
    # serializers (over instances) stay the schema. Same keys, order, types and text,
    # decimals included.
    book = BookFactory(tenant=tenant, price=price, published_on=published_on, title="Ünïcode ✓")
    for i in range(n_genres):
        BookGenreFactory(book=book, genre=GenreFactory(tenant=tenant, name=f"G{3 - i}"))
    [row] = book_list(tenant=tenant)
    detailed = book_get(tenant=tenant, book_id=book.id)
    row["rank"] = detailed.rank = 0.0607927
    cases = [
        (book_list_row(row), BookListSerializer(detailed).data),
        (book_search_row(row), BookSearchResultSerializer(detailed).data),
        (book_detail_row(detailed), BookDetailSerializer(detailed).data),
    ]
    # The export's line, from the export's own rows (tuples off a server-side cursor).
    [exported] = list(book_export_rows(tenant=tenant))
    fields = list(BookExportLineSerializer().fields)
    as_dict = dict(zip(fields, exported, strict=True))
    cases.append((book_export_line(exported), BookExportLineSerializer(as_dict).data))
    for plain, drf in cases:
        assert orjson.dumps(plain) == orjson.dumps(drf)
        assert list(plain) == list(drf)
