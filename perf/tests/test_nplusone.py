"""The detector on deliberately lazy serializers: FK, reverse FK and M2M."""

from __future__ import annotations

import pytest
from django.db.models import Prefetch
from rest_framework import serializers

from catalog.models import Book, Genre
from orders.models import Order, OrderItem
from perf import nplusone
from perf.nplusone import (
    NPlusOneError,
    allow_repeats,
    detect_n_plus_one,
    find_repeats,
    pattern_matches,
)
from perf.recording import record_queries
from tests.factories import BookFactory, BookGenreFactory, OrderFactory, OrderItemFactory

pytestmark = pytest.mark.django_db
THIS_FILE = "perf/tests/test_nplusone.py"


class AuthorNameSerializer(serializers.Serializer):
    name = serializers.CharField()


class LazyBookSerializer(serializers.ModelSerializer):
    author = AuthorNameSerializer()  # forward FK, not select_related below

    class Meta:
        model = Book
        fields = ["id", "title", "author"]


class GenreSerializer(serializers.ModelSerializer):
    class Meta:
        model = Genre
        fields = ["name"]


class BookGenresSerializer(serializers.ModelSerializer):
    genres = GenreSerializer(many=True)  # M2M

    class Meta:
        model = Book
        fields = ["id", "genres"]


class ItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderItem
        fields = ["quantity"]


class OrderItemsSerializer(serializers.ModelSerializer):
    items = ItemSerializer(many=True)  # reverse FK

    class Meta:
        model = Order
        fields = ["id", "items"]


@pytest.fixture
def books(tenant):
    books = [BookFactory(tenant=tenant) for _ in range(6)]
    for book in books:
        BookGenreFactory(book=book)
    return books


def _render(serializer_class, queryset):
    return serializer_class(queryset, many=True).data


@pytest.mark.allow_repeats("deliberate N+1s, caught by the detector under test")
def test_a_lazy_foreign_key_is_caught_with_call_site_relation_and_fix(books):
    with pytest.raises(NPlusOneError) as caught, detect_n_plus_one("lazy FK"):
        _render(LazyBookSerializer, Book.objects.across_tenants("test").order_by("title"))
    [repeat] = caught.value.repeats
    assert repeat.count == 6
    assert repeat.origin.table == "catalog_author"
    assert (repeat.origin.relation.model, repeat.origin.relation.name) == ("catalog.Book", "author")
    assert repeat.origin.relation.kind == "forward foreign key"
    assert repeat.origin.call_site.startswith(f"{THIS_FILE}:")
    assert repeat.origin.call_site.endswith("in _render")
    assert repeat.origin.serializer_path == "LazyBookSerializer.author"
    message = str(caught.value)
    assert 'select_related("author") on the catalog.Book queryset' in message
    assert "ran 6 times" in message


@pytest.mark.allow_repeats("deliberate N+1s, caught by the detector under test")
def test_a_lazy_many_to_many_is_caught_with_prefetch_advice(books):
    with pytest.raises(NPlusOneError) as caught, detect_n_plus_one():
        _render(BookGenresSerializer, Book.objects.across_tenants("test").all())
    [repeat] = caught.value.repeats
    assert repeat.origin.relation.model == "catalog.Book"
    assert repeat.origin.relation.name == "genres"
    assert repeat.origin.relation.kind == "many-to-many"
    assert repeat.origin.serializer_path == "BookGenresSerializer.genres"
    assert 'prefetch_related("genres")' in repeat.origin.fix


@pytest.mark.allow_repeats("deliberate N+1s, caught by the detector under test")
def test_a_lazy_reverse_foreign_key_is_caught_with_prefetch_advice(tenant):
    for _ in range(5):
        OrderItemFactory(order=OrderFactory(tenant=tenant))
    with pytest.raises(NPlusOneError) as caught, detect_n_plus_one():
        _render(OrderItemsSerializer, Order.objects.across_tenants("test").all())
    [repeat] = caught.value.repeats
    assert (repeat.origin.relation.model, repeat.origin.relation.name) == ("orders.Order", "items")
    assert repeat.origin.relation.kind == "reverse foreign key"
    assert 'prefetch_related("items")' in repeat.origin.fix


def test_the_same_serializers_with_their_relations_loaded_are_clean(books, tenant):
    for _ in range(5):
        OrderItemFactory(order=OrderFactory(tenant=tenant))
    with detect_n_plus_one() as detector, record_queries() as recording:
        _render(LazyBookSerializer, Book.objects.across_tenants("test").select_related("author"))
        _render(
            BookGenresSerializer, Book.objects.across_tenants("test").prefetch_related("genres")
        )
        _render(
            OrderItemsSerializer,
            Order.objects.across_tenants("test").prefetch_related(
                Prefetch("items", OrderItem.objects.across_tenants("test").order_by("id"))
            ),
        )
    assert recording.count == 5
    assert find_repeats(detector.counter, threshold=2) == []


def test_below_the_threshold_nothing_fires(tenant):
    for _ in range(4):
        BookFactory(tenant=tenant)
    with detect_n_plus_one() as detector, record_queries() as recording:
        _render(LazyBookSerializer, Book.objects.across_tenants("test").all())  # 4 author loads < 5
    # The lazy loads did happen: the threshold (5) is what kept the detector quiet.
    assert recording.count == 1 + 4
    [repeat] = find_repeats(detector.counter, threshold=4)
    assert (repeat.count, repeat.origin.table) == (4, "catalog_author")


@pytest.mark.allow_repeats("deliberate N+1s, caught by the detector under test")
def test_allow_repeats_exempts_a_legitimate_repeat_with_its_reason(books):
    with (
        detect_n_plus_one(),
        allow_repeats("one lock per row, by design", match="catalog_author"),
        record_queries() as recording,
    ):
        _render(LazyBookSerializer, Book.objects.across_tenants("test").all())
    assert recording.count == 1 + 6  # the repeats ran, and were let through
    with (
        pytest.raises(NPlusOneError),
        detect_n_plus_one(),
        allow_repeats("a different table", match="orders_order"),
    ):
        _render(LazyBookSerializer, Book.objects.across_tenants("test").all())
    with pytest.raises(ValueError, match="needs a reason"):
        allow_repeats("  ")


@pytest.mark.allow_repeats("deliberate N+1s, caught by the detector under test")
def test_detect_works_as_a_decorator_and_log_mode_does_not_raise(books, caplog):
    @detect_n_plus_one(mode="log")
    def lazy():
        return _render(LazyBookSerializer, Book.objects.across_tenants("test").all())

    assert len(lazy()) == 6

    @detect_n_plus_one()
    def lazy_raising():
        return _render(LazyBookSerializer, Book.objects.across_tenants("test").all())

    with pytest.raises(NPlusOneError):
        lazy_raising()


def test_allow_repeats_matches_a_table_name_exactly():
    # catalog_book must not also allow catalog_bookgenre's repeats.
    assert pattern_matches("catalog_book", 'SELECT "catalog_book"."id" FROM "catalog_book"')
    assert not pattern_matches("catalog_book", 'SELECT * FROM "catalog_bookgenre" WHERE x = %s')
    assert pattern_matches("FOR UPDATE", "SELECT id FROM t FOR UPDATE")
    assert pattern_matches("*", "anything")


@pytest.mark.allow_repeats("deliberate N+1s, caught by the detector under test")
def test_allow_repeats_does_not_cover_a_longer_table_name(books):
    with (
        pytest.raises(NPlusOneError),
        detect_n_plus_one(),
        allow_repeats("authors only", match="catalog_auth"),
    ):
        _render(LazyBookSerializer, Book.objects.across_tenants("test").all())


@pytest.mark.allow_repeats("deliberate N+1s, caught by the detector under test")
def test_allow_repeats_logs_its_reason_when_it_lets_repeats_through(books, monkeypatch):
    logged = []
    monkeypatch.setattr(
        nplusone.logger, "info", lambda event, **kw: logged.append({"event": event, **kw})
    )
    with allow_repeats("one lock per row, by design", match="catalog_author"):
        _render(LazyBookSerializer, Book.objects.across_tenants("test").all())
    with allow_repeats("nothing repeats here", match="orders_order"):
        _render(LazyBookSerializer, Book.objects.across_tenants("test").select_related("author"))
    assert logged == [
        {
            "event": "repeats_allowed",
            "reason": "one lock per row, by design",
            "match": "catalog_author",
            "statements": 6,
        }
    ]
