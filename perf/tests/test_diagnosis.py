"""Issue 12: the diagnosis names the project call site, the relation and the right fix,
for queries through the tenant-scoped querysets, under FETCH_RAISE, for per-row counts
and for admin changelists.

Each regression is written the way ShelfWise code could write it; each test checks the
report, then applies the fix the report gives and checks that the code is clean."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import FieldFetchBlocked
from django.db.models import Count, Prefetch
from django.test import Client, override_settings
from django.utils.functional import SimpleLazyObject
from rest_framework import serializers

from catalog.models import Author, Book, Genre
from orders.models import Order, OrderItem
from orders.querysets import ORDER_FIELDS
from perf.conf import perf_settings
from perf.fetch import FETCH_RAISE_EXPLAINED, bundle_fetch_mode
from perf.nplusone import NPlusOneError, detect_n_plus_one
from perf.tests import diag_helpers
from tests.factories import (
    AuthorFactory,
    BookFactory,
    BookGenreFactory,
    OperatorFactory,
    OrderFactory,
    OrderItemFactory,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.allow_repeats("deliberate N+1s, caught by the detector under test"),
]
THIS_FILE = "perf/tests/test_diagnosis.py"
ROWS = 6


def line_of(marker: str, path: str = THIS_FILE) -> int:
    """The line of ``path`` that ends with the comment ``# <marker>``."""
    lines = (Path(__file__).resolve().parents[2] / path).read_text().splitlines()
    [line] = [i for i, text in enumerate(lines, start=1) if text.endswith(f"# {marker}")]
    return line


def assert_project_site(call_site: str | None, path: str, marker: str, function: str) -> None:
    # The property: the call site is the project's line, never the scoping layer, Django
    # or perf (their frames are skipped, not just missing from this test's stack).
    assert call_site == f"{path}:{line_of(marker, path)} in {function}"


# --- Serializers that forget a relation ------------------------------------------------


class AuthorNameSerializer(serializers.Serializer):
    name = serializers.CharField()


class BookAuthorSerializer(serializers.ModelSerializer):
    author = AuthorNameSerializer()

    class Meta:
        model = Book
        fields = ["id", "author"]


class GenreSerializer(serializers.ModelSerializer):
    class Meta:
        model = Genre
        fields = ["name"]


class BookGenresSerializer(serializers.ModelSerializer):
    genres = GenreSerializer(many=True)

    class Meta:
        model = Book
        fields = ["id", "genres"]


class AuthorTitlesSerializer(serializers.ModelSerializer):
    titles = serializers.SerializerMethodField()

    class Meta:
        model = Author
        fields = ["id", "titles"]

    def get_titles(self, author: Author) -> list[str]:
        return diag_helpers.titles_of(author)  # titles helper


class AuthorCountSerializer(serializers.ModelSerializer):
    n = serializers.SerializerMethodField()

    class Meta:
        model = Author
        fields = ["id", "n"]

    def get_n(self, author: Author) -> int:
        if hasattr(author, "n"):
            return int(author.n)
        return author.books.count()  # related count


class AuthorScopedCountSerializer(AuthorCountSerializer):
    def get_n(self, author: Author) -> int:
        books = Book.objects.for_tenant_id(author.tenant_id)
        return books.filter(author=author).count()  # scoped count


class ItemTitleSerializer(serializers.ModelSerializer):
    title = serializers.CharField(source="book.title")

    class Meta:
        model = OrderItem
        fields = ["quantity", "title"]


class OrderItemsSerializer(serializers.ModelSerializer):
    items = ItemTitleSerializer(many=True)

    class Meta:
        model = Order
        fields = ["id", "items"]


def render(serializer_class, queryset):
    return serializer_class(queryset, many=True).data  # render


@pytest.fixture
def books(tenant):
    rows = [BookFactory(tenant=tenant) for _ in range(ROWS)]
    for book in rows:
        BookGenreFactory(book=book)
    return rows


@pytest.fixture
def orders(tenant):
    return [OrderItemFactory(order=OrderFactory(tenant=tenant)).order for _ in range(ROWS)]


def caught_repeat(serializer_class, queryset):
    with pytest.raises(NPlusOneError) as caught, detect_n_plus_one():
        render(serializer_class, queryset)
    [repeat] = caught.value.repeats
    return repeat, str(caught.value)


def assert_clean(serializer_class, queryset):
    with detect_n_plus_one():
        assert len(render(serializer_class, queryset)) == ROWS


# --- 1. Through the scoped querysets ---------------------------------------------------


def test_a_scoped_many_to_many_names_the_caller_not_the_scoping_layer(books, tenant):
    scoped = Book.objects.for_tenant(tenant)
    repeat, message = caught_repeat(BookGenresSerializer, scoped)
    assert_project_site(repeat.origin.call_site, THIS_FILE, "render", "render")
    assert "tenants/" not in message
    assert (repeat.origin.relation.model, repeat.origin.relation.name) == ("catalog.Book", "genres")
    assert 'fix: prefetch_related("genres") on the catalog.Book queryset' in message
    assert_clean(BookGenresSerializer, scoped.prefetch_related("genres"))


def test_a_scoped_foreign_key_names_the_caller_and_select_related(books, tenant):
    scoped = Book.objects.for_tenant(tenant).order_by("title")
    repeat, message = caught_repeat(BookAuthorSerializer, scoped)
    assert_project_site(repeat.origin.call_site, THIS_FILE, "render", "render")
    assert repeat.origin.serializer_path == "BookAuthorSerializer.author"
    assert 'fix: select_related("author") on the catalog.Book queryset' in message
    assert_clean(BookAuthorSerializer, scoped.select_related("author"))


def test_a_per_row_query_behind_the_tenant_filter_follows_the_row_not_the_tenant(books, tenant):
    # WHERE tenant_id = %s AND author_id = %s: the tenant is the same on every run, the
    # author is the one that changes, so the relation is Author.books, not Tenant.books.
    authors = Author.objects.for_tenant(tenant)
    repeat, message = caught_repeat(AuthorTitlesSerializer, authors)
    assert (repeat.origin.relation.model, repeat.origin.relation.name) == (
        "catalog.Author",
        "books",
    )
    assert "Tenant" not in message
    assert 'fix: prefetch_related("books") on the catalog.Author queryset' in message
    # A helper function is the caller's own code: its line is the call site...
    assert repeat.origin.call_site.startswith("perf/tests/diag_helpers.py:")
    assert repeat.origin.call_site.endswith(" in titles_of")
    # ...unless PERF names its module as a layer to skip, like a queryset method.
    with override_settings(PERF={**_perf(), "CALLSITE_SKIP_MODULES": ["perf.tests.diag_"]}):
        repeat, _ = caught_repeat(AuthorTitlesSerializer, authors)
    assert_project_site(repeat.origin.call_site, THIS_FILE, "titles helper", "get_titles")


def test_the_stack_walk_leaves_lazy_locals_unevaluated(books, tenant):
    # request.user is such a local (as ``self`` of its own methods) in every request:
    # evaluating it would run queries of its own, from inside the query wrapper.
    evaluated = []
    cl = SimpleLazyObject(lambda: evaluated.append("N+1 walk") or "user")  # noqa: F841
    repeat, _ = caught_repeat(BookGenresSerializer, Book.objects.for_tenant(tenant))
    assert repeat.origin.relation.name == "genres"
    row = SimpleLazyObject(lambda: evaluated.append("fetch walk") or "row")  # noqa: F841
    with pytest.raises(FieldFetchBlocked):
        render(
            BookAuthorSerializer, Book.objects.for_tenant(tenant).fetch_mode(bundle_fetch_mode())
        )
    assert evaluated == []


def _perf() -> dict[str, object]:
    from django.conf import settings

    return dict(settings.PERF)


# --- 2. The fetch mode reports like the detector ---------------------------------------


def test_the_bundles_raise_the_explained_fetch_mode():
    assert perf_settings().FETCH_MODE == "FETCH_RAISE"
    assert bundle_fetch_mode() is FETCH_RAISE_EXPLAINED


def test_a_forgotten_select_related_under_fetch_raise_names_site_field_and_fix(books, tenant):
    bundle = Book.objects.for_tenant(tenant).fetch_mode(bundle_fetch_mode())
    with pytest.raises(FieldFetchBlocked) as caught:
        render(BookAuthorSerializer, bundle)
    message = str(caught.value)
    assert message.startswith("Fetching of Book.author blocked")
    assert f"call site: {THIS_FILE}:{line_of('render')} in render" in message
    assert "serializer field: BookAuthorSerializer.author" in message
    assert 'fix: select_related("author") on the catalog.Book queryset' in message
    assert_clean(BookAuthorSerializer, bundle.select_related("author"))


@pytest.mark.parametrize(
    ("columns", "django_names", "field_path", "fix"),
    [
        # Every column: the items query ran once per order (related managers query
        # whatever the mode) and the first item's book raised.
        (
            (),
            "OrderItem.book",
            "OrderItemsSerializer.items.title",
            'prefetch_related(Prefetch("items", queryset=OrderItem.objects.select_related('
            '"book"))) on the orders.Order queryset',
        ),
        # with_items()'s columns: the scoped items manager read the order's deferred
        # tenant before any item was loaded.
        (
            ORDER_FIELDS,
            "Order.tenant",
            "OrderItemsSerializer.items",
            'prefetch_related("items") on the orders.Order queryset',
        ),
    ],
)
def test_a_forgotten_prefetch_under_fetch_raise_names_the_collection_not_the_field(
    orders, tenant, columns, django_names, field_path, fix
):
    bundle = Order.objects.for_tenant(tenant).only(*columns).fetch_mode(bundle_fetch_mode())
    with pytest.raises(FieldFetchBlocked) as caught:
        render(OrderItemsSerializer, bundle)
    message = str(caught.value)
    assert message.startswith(f"Fetching of {django_names} blocked")
    assert "relation orders.Order.items (reverse foreign key) was not prefetched" in message
    assert f"call site: {THIS_FILE}:{line_of('render')} in render" in message
    assert f"serializer field: {field_path}\n" in message
    assert f"fix: {fix}" in message
    items = OrderItem.objects.for_tenant(tenant).select_related("book")
    assert_clean(OrderItemsSerializer, bundle.prefetch_related(Prefetch("items", items)))


def test_a_prefetch_that_leaves_out_a_relation_is_told_to_join_it(orders, tenant):
    # Prefetched, with the bundle's fetch mode, but without select_related("book").
    items = OrderItem.objects.for_tenant(tenant).fetch_mode(bundle_fetch_mode())
    bundle = (
        Order.objects.for_tenant(tenant)
        .prefetch_related(Prefetch("items", items))
        .fetch_mode(bundle_fetch_mode())
    )
    with pytest.raises(FieldFetchBlocked) as caught:
        render(OrderItemsSerializer, bundle)
    message = str(caught.value)
    assert "not prefetched" not in message
    assert 'fix: select_related("book") in the prefetch of "items"' in message
    assert_clean(
        OrderItemsSerializer,
        bundle.prefetch_related(None).prefetch_related(
            Prefetch("items", items.select_related("book"))
        ),
    )


def test_the_project_bundle_is_clean_with_the_same_serializer(orders, tenant):
    assert_clean(OrderItemsSerializer, Order.objects.for_tenant(tenant).with_items())


# --- 3. The fix suits how the rows were loaded -----------------------------------------


@pytest.mark.parametrize(
    ("serializer_class", "marker", "function"),
    [
        (AuthorCountSerializer, "related count", "get_n"),
        (AuthorScopedCountSerializer, "scoped count", "get_n"),
    ],
)
def test_a_count_per_row_is_told_to_annotate_not_prefetch(
    books, tenant, serializer_class, marker, function
):
    authors = Author.objects.for_tenant(tenant)
    repeat, message = caught_repeat(serializer_class, authors)
    assert_project_site(repeat.origin.call_site, THIS_FILE, marker, function)
    assert 'fix: annotate(n=Count("books")) on the catalog.Author queryset' in message
    assert "fix: prefetch_related" not in message
    assert_clean(AuthorCountSerializer, authors.annotate(n=Count("books")))


ADMIN_FILE = "perf/tests/diag_admin.py"


@pytest.fixture
def admin_client(tenant):
    client = Client()
    client.force_login(OperatorFactory(tenant=tenant))
    return client


@override_settings(ROOT_URLCONF="perf.tests.diag_admin")
def test_a_changelist_without_the_relation_is_told_list_select_related(admin_client, tenant):
    for _ in range(ROWS):
        BookFactory(tenant=tenant)
    with pytest.raises(NPlusOneError) as caught:
        admin_client.get("/diag-admin/catalog/book/")
    message = str(caught.value)
    [repeat] = caught.value.repeats
    assert (repeat.origin.relation.model, repeat.origin.relation.name) == ("catalog.Book", "author")
    assert repeat.origin.changelist.admin == "ForgetfulBookAdmin"
    site = f"{ADMIN_FILE}:{_class_line('ForgetfulBookAdmin')}"
    assert f"first call site: {site} (class ForgetfulBookAdmin, its changelist)" in message
    assert (
        f'fix: list_select_related = ("publisher", "author") on the ForgetfulBookAdmin ({site})'
        in message
    )


def _class_line(name: str) -> int:
    lines = (Path(__file__).resolve().parents[2] / ADMIN_FILE).read_text().splitlines()
    [line] = [i for i, text in enumerate(lines, start=1) if text.startswith(f"class {name}(")]
    return line


@override_settings(ROOT_URLCONF="perf.tests.diag_admin")
def test_a_changelist_count_per_row_is_told_to_annotate_in_get_queryset(
    admin_client, tenant, books
):
    for _ in range(ROWS):
        AuthorFactory(tenant=tenant)
    with pytest.raises(NPlusOneError) as caught:
        admin_client.get("/diag-admin/catalog/author/")
    message = str(caught.value)
    assert_project_site(
        caught.value.repeats[0].origin.call_site, ADMIN_FILE, "a COUNT per row", "book_count"
    )
    assert 'fix: annotate(n=Count("books")) in AuthorBookCountAdmin.get_queryset()' in message
