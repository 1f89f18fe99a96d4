"""What the catalog selectors hand to the serializers."""

from __future__ import annotations

import pytest

from catalog.selectors import book_get, book_list
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
