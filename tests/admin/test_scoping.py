"""Tenant scoping in the admin: an operator lists, views, changes and picks only their
tenant's rows; another tenant's object is a 404; superusers see every tenant."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog.models import Book
from catalog.services import book_search_documents_refresh
from orders.models import OrderStatus
from tenants.services import api_token_issue
from tests.admin.conftest import catalog, logged_in, result_ids, url
from tests.factories import (
    AuthorFactory,
    BookFactory,
    GenreFactory,
    OrderFactory,
    OrderItemFactory,
    PublisherFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_catalogs(tenant, other_tenant):
    mine = catalog(tenant, 3, prefix="Mine ")
    theirs = catalog(other_tenant, 3, prefix="Theirs ")
    return mine, theirs


def _objects(books):
    """One object of each tenant-owned admin, keyed by the admin's URL name."""
    book = books[0]
    tenant = book.tenant
    order = OrderFactory(tenant=tenant)
    OrderItemFactory(order=order, book=book)
    token, _ = api_token_issue(user=UserFactory(tenant=tenant))
    return {
        "catalog_book": book,
        "catalog_author": book.author,
        "catalog_publisher": book.publisher,
        "catalog_genre": book.genres.first(),
        "orders_order": order,
        "tenants_apitoken": token,
    }


# --- Listing -------------------------------------------------------------------------------


def test_changelists_list_only_the_operators_tenant(op, two_catalogs):
    mine_books, theirs_books = two_catalogs
    mine, theirs = _objects(mine_books), _objects(theirs_books)
    for name in mine:
        response = op.get(url(f"{name}_changelist"))
        assert response.status_code == 200, name
        ids = result_ids(response)
        assert mine[name].pk in ids, name
        assert theirs[name].pk not in ids, name
    assert result_ids(op.get(url("catalog_book_changelist"))) == {b.pk for b in mine_books}


def test_another_tenants_objects_are_404_for_change_history_and_delete(op, two_catalogs):
    _, theirs_books = two_catalogs
    for name, obj in _objects(theirs_books).items():
        for view in ("change", "history", "delete"):
            response = op.get(url(f"{name}_{view}", obj.pk))
            assert response.status_code == 404, (name, view)


def test_unknown_and_malformed_ids_are_404(op, tenant):
    assert (
        op.get(url("catalog_book_change", "00000000-0000-0000-0000-000000000000")).status_code
        == 404
    )
    assert op.get(url("catalog_book_change", "not-a-uuid")).status_code == 404


def test_a_post_to_another_tenants_book_changes_nothing(op, two_catalogs):
    _, theirs_books = two_catalogs
    book = theirs_books[0]
    response = op.post(url("catalog_book_change", book.pk), {"title": "Hijacked"})
    assert response.status_code == 404
    book.refresh_from_db()
    assert book.title != "Hijacked"


def test_autocomplete_offers_only_the_operators_tenant(op, two_catalogs):
    mine_books, _ = two_catalogs
    for field, expected in (
        ("author", {str(mine_books[0].author_id)}),
        ("publisher", {str(mine_books[0].publisher_id)}),
        ("genres", {str(g.pk) for g in mine_books[0].genres.all()}),
    ):
        response = op.get(
            "/admin/autocomplete/",
            {"app_label": "catalog", "model_name": "book", "field_name": field, "term": ""},
        )
        assert response.status_code == 200, field
        assert {row["id"] for row in response.json()["results"]} == expected, field


def test_autocomplete_search_does_not_reach_another_tenant(op, two_catalogs):
    response = op.get(
        "/admin/autocomplete/",
        {"app_label": "catalog", "model_name": "book", "field_name": "author", "term": "Theirs"},
    )
    assert response.json()["results"] == []


def test_raw_id_lookup_popup_lists_only_the_operators_tenant(op, two_catalogs):
    mine_books, _ = two_catalogs
    response = op.get(url("catalog_author_changelist"), {"_to_field": "id", "_popup": "1"})
    assert response.status_code == 200
    assert result_ids(response) == {mine_books[0].author_id}


def test_list_filters_offer_only_the_operators_tenant(op, tenant, other_tenant, two_catalogs):
    mine_books, _ = two_catalogs
    # A filter with a single choice is not shown: give each tenant a second publisher.
    second = PublisherFactory(tenant=tenant)
    PublisherFactory(tenant=other_tenant)
    response = op.get(url("catalog_book_changelist"))
    specs = {spec.title: spec for spec in response.context["cl"].filter_specs}
    assert {pk for pk, _ in specs["publisher"].lookup_choices} == {
        mine_books[0].publisher_id,
        second.pk,
    }
    assert {pk for pk, _ in specs["genres"].lookup_choices} == {
        g.pk for g in mine_books[0].genres.all()
    }
    assert "tenant" not in specs


def test_filtering_by_another_tenants_publisher_finds_nothing(op, tenant, two_catalogs):
    _, theirs_books = two_catalogs
    PublisherFactory(tenant=tenant)  # two choices: the filter is shown and applied
    response = op.get(
        url("catalog_book_changelist"), {"publisher__id__exact": theirs_books[0].publisher_id}
    )
    assert response.status_code == 200
    assert result_ids(response) == set()


# --- Forms ---------------------------------------------------------------------------------


def test_the_tenant_is_never_a_field_for_operators(op, two_catalogs):
    mine_books, _ = two_catalogs
    for response in (
        op.get(url("catalog_book_add")),
        op.get(url("catalog_book_change", mine_books[0].pk)),
        op.get(url("catalog_author_add")),
    ):
        assert "tenant" not in response.context["adminform"].form.fields
        assert b'name="tenant"' not in response.content


def test_operator_adds_a_book_in_their_tenant_through_the_service(op, tenant, two_catalogs):
    mine_books, _ = two_catalogs
    author, publisher = mine_books[0].author, mine_books[0].publisher
    genre = mine_books[0].genres.first()
    response = op.post(
        url("catalog_book_add"),
        {
            "title": "Harbor Nights",
            "isbn": "9780000000999",
            "author": author.pk,
            "publisher": publisher.pk,
            "genre_ids": [genre.pk],
            "price": "19.90",
            "stock": "4",
            "published_on": "2024-05-01",
            "description": "Lighthouses.",
        },
    )
    assert response.status_code == 302, response.context and response.context["adminform"].errors
    book = Book.objects.across_tenants("test").get(isbn="9780000000999")
    assert book.tenant_id == tenant.id
    assert list(book.genres.values_list("pk", flat=True)) == [genre.pk]
    # book_create built the search document: the admin's search finds the new book.
    found = op.get(url("catalog_book_changelist"), {"q": "lighthouses"})
    assert result_ids(found) == {book.pk}


def test_operator_cannot_pick_another_tenants_author_or_genre(op, two_catalogs):
    mine_books, theirs_books = two_catalogs
    response = op.post(
        url("catalog_book_add"),
        {
            "title": "Crossed",
            "isbn": "9780000000998",
            "author": theirs_books[0].author_id,
            "publisher": mine_books[0].publisher_id,
            "genre_ids": [theirs_books[0].genres.first().pk],
            "price": "10.00",
            "stock": "1",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "author" in errors and "genre_ids" in errors
    assert not Book.objects.across_tenants("test").filter(isbn="9780000000998").exists()


def test_operator_edits_a_book_and_its_genres(op, tenant, two_catalogs):
    mine_books, _ = two_catalogs
    book = mine_books[0]
    new_genre = GenreFactory(tenant=tenant, name="Maritime")
    response = op.post(
        url("catalog_book_change", book.pk),
        {
            "title": "Renamed Voyage",
            "isbn": book.isbn,
            "author": book.author_id,
            "publisher": book.publisher_id,
            "genre_ids": [new_genre.pk],
            "price": "15.00",
            "stock": "7",
            "published_on": "2020-01-01",
            "description": book.description,
        },
    )
    assert response.status_code == 302, response.context["adminform"].errors
    book.refresh_from_db()
    assert (book.title, book.price, book.stock) == ("Renamed Voyage", Decimal("15.00"), 7)
    assert list(book.genres.all()) == [new_genre]
    assert result_ids(op.get(url("catalog_book_changelist"), {"q": "voyage"})) == {book.pk}


def test_duplicate_isbn_in_the_tenant_is_a_form_error_other_tenants_isbn_is_fine(op, two_catalogs):
    mine_books, theirs_books = two_catalogs
    base = {
        "title": "Copy",
        "author": mine_books[0].author_id,
        "publisher": mine_books[0].publisher_id,
        "price": "1.00",
        "stock": "0",
    }
    taken = op.post(url("catalog_book_add"), {**base, "isbn": mine_books[1].isbn})
    assert taken.status_code == 200
    assert taken.context["adminform"].form.errors
    free = op.post(url("catalog_book_add"), {**base, "isbn": theirs_books[0].isbn})
    assert free.status_code == 302


def test_duplicate_genre_name_in_the_tenant_is_a_form_error(op, tenant):
    GenreFactory(tenant=tenant, name="Poetry")
    response = op.post(url("catalog_genre_add"), {"name": "Poetry"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors


def test_renaming_an_author_rebuilds_their_books_search_documents(op, tenant):
    book = BookFactory(tenant=tenant, author=AuthorFactory(tenant=tenant, name="Ann Old"))
    book_search_documents_refresh(tenant=tenant)
    response = op.post(url("catalog_author_change", book.author_id), {"name": "Zelda Quill"})
    assert response.status_code == 302
    assert result_ids(op.get(url("catalog_book_changelist"), {"q": "quill"})) == {book.pk}


def test_new_publisher_gets_the_operators_tenant(op, tenant):
    assert op.post(url("catalog_publisher_add"), {"name": "Tidewater"}).status_code == 302
    publishers = PublisherFactory._meta.model.objects.across_tenants("test")
    assert publishers.get(name="Tidewater").tenant_id == tenant.id


# --- Who gets in ------------------------------------------------------------------------------


def test_members_get_nothing(member_user, two_catalogs):
    client = logged_in(member_user)
    response = client.get(url("catalog_book_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_staff_without_the_operator_role_get_nothing(member_user, two_catalogs):
    member_user.is_staff = True
    member_user.save()
    client = logged_in(member_user)
    assert client.get(url("catalog_book_changelist")).status_code == 403
    assert client.get(url("index")).context["app_list"] == []


def test_operators_index_lists_their_admin(op):
    app_list = op.get(url("index")).context["app_list"]
    models = {m["object_name"] for app in app_list for m in app["models"]}
    assert models == {"Author", "Book", "Genre", "Publisher", "Order", "ApiToken"}


def test_superuser_sees_every_tenant_with_a_tenant_filter(admin_client, two_catalogs, tenant):
    mine_books, theirs_books = two_catalogs
    response = admin_client.get(url("catalog_book_changelist"))
    assert result_ids(response) == {b.pk for b in mine_books + theirs_books}
    specs = {spec.title: spec for spec in response.context["cl"].filter_specs}
    assert "tenant" in specs
    assert "tenant" in response.context["cl"].list_display
    filtered = admin_client.get(url("catalog_book_changelist"), {"tenant__id__exact": tenant.id})
    assert result_ids(filtered) == {b.pk for b in mine_books}
    assert admin_client.get(url("catalog_book_change", theirs_books[0].pk)).status_code == 200
    assert "tenant" in admin_client.get(url("catalog_book_add")).context["adminform"].form.fields


def test_superuser_cannot_mix_tenants_in_one_book(admin_client, two_catalogs, tenant):
    _, theirs_books = two_catalogs
    response = admin_client.post(
        url("catalog_book_add"),
        {
            "tenant": tenant.pk,
            "title": "Mixed",
            "isbn": "9780000000997",
            "author": theirs_books[0].author_id,
            "publisher": theirs_books[0].publisher_id,
            "price": "1.00",
            "stock": "0",
        },
    )
    assert response.status_code == 200
    assert {"author", "publisher"} <= set(response.context["adminform"].form.errors)


def test_orders_and_tokens_are_read_only(op, two_catalogs):
    mine_books, _ = two_catalogs
    objects = _objects(mine_books)
    for name in ("orders_order", "tenants_apitoken"):
        assert op.get(url(f"{name}_add")).status_code == 403
        response = op.get(url(f"{name}_change", objects[name].pk))
        assert response.status_code == 200
        assert not response.context["has_change_permission"]
    token_page = op.get(url("tenants_apitoken_change", objects["tenants_apitoken"].pk))
    assert objects["tenants_apitoken"].key_hash.encode() not in token_page.content


def test_order_change_form_shows_items_with_book_titles(op, tenant):
    order = OrderFactory(tenant=tenant, status=OrderStatus.PAID)
    items = OrderItemFactory.create_batch(3, order=order)
    content = op.get(url("orders_order_change", order.pk)).content.decode()
    for item in items:
        assert item.book.title in content


def test_superuser_views_orders_and_tokens_of_any_tenant(admin_client, two_catalogs):
    _, theirs_books = two_catalogs
    objects = _objects(theirs_books)
    for name in ("orders_order", "tenants_apitoken"):
        listing = admin_client.get(url(f"{name}_changelist"))
        assert objects[name].pk in result_ids(listing)
        assert "tenant" in listing.context["cl"].list_display
        assert admin_client.get(url(f"{name}_change", objects[name].pk)).status_code == 200


def test_operator_deletes_a_book_without_orders_and_is_shown_the_protected_ones(op, two_catalogs):
    mine_books, _ = two_catalogs
    free, ordered = mine_books[0], mine_books[1]
    OrderItemFactory(order=OrderFactory(tenant=ordered.tenant), book=ordered)
    assert op.post(url("catalog_book_delete", free.pk), {"post": "yes"}).status_code == 302
    assert not Book.objects.across_tenants("test").filter(pk=free.pk).exists()
    protected = op.get(url("catalog_book_delete", ordered.pk))
    assert protected.status_code == 200 and protected.context["protected"]


def test_inline_rows_are_scoped_and_take_the_parents_tenant(operator_user, two_catalogs):
    """No shipped admin has an editable inline (book genres are one field, order items
    are read-only), so the inline mixin is checked on a throwaway admin site."""
    from types import SimpleNamespace

    from django.contrib import admin
    from django.test import RequestFactory

    from catalog.models import BookGenre
    from tenants.admin_scoping import TenantScopedAdminMixin, TenantScopedInlineMixin

    class GenreInline(TenantScopedInlineMixin, admin.TabularInline):
        model = BookGenre
        fields = ("genre",)

    class ThrowawayBookAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
        inlines = (GenreInline,)

    mine_books, theirs_books = two_catalogs
    book = mine_books[0]
    BookGenre.objects.across_tenants("test").filter(book=book).delete()
    site = admin.AdminSite(name="throwaway")
    request = RequestFactory().post("/")
    request.user = operator_user
    formset_class = GenreInline(Book, site).get_formset(request, book)
    prefix = formset_class.get_default_prefix()

    def formset(genre):
        data = {
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-0-genre": str(genre.pk),
        }
        return formset_class(data, instance=book, prefix=prefix)

    theirs = formset(theirs_books[0].genres.first())
    assert not theirs.is_valid()
    mine = formset(mine_books[1].genres.first())
    assert set(mine.forms[0].fields["genre"].queryset) == set(mine_books[1].genres.all())
    assert mine.is_valid(), mine.errors
    ThrowawayBookAdmin(Book, site).save_formset(
        request, SimpleNamespace(instance=book), mine, change=True
    )
    assert BookGenre.objects.across_tenants("test").get(book=book).tenant_id == book.tenant_id


def test_an_operator_of_a_deactivated_tenant_loses_the_admin(client, tenant):
    from tests.factories import OperatorFactory

    operator = OperatorFactory(tenant=tenant)
    client.force_login(operator)
    assert client.get("/admin/catalog/book/").status_code == 200
    tenant.is_active = False
    tenant.save(update_fields=["is_active"])
    assert client.get("/admin/catalog/book/").status_code in (302, 403)


def test_crafted_ids_in_the_admin_are_never_a_500(client, tenant):
    from catalog.models import Book
    from tests.factories import BookFactory, OperatorFactory

    book = BookFactory(tenant=tenant)
    client.force_login(OperatorFactory(tenant=tenant))
    assert client.get("/admin/catalog/book/add/?author=notuuid&genres=x,y").status_code == 200
    response = client.post(
        "/admin/catalog/book/",
        {"action": "delete_selected", "_selected_action": ["notauuid"]},
    )
    assert response.status_code in (200, 302)
    assert Book.objects.across_tenants("test").filter(pk=book.pk).exists()
    assert client.get("/admin/autocomplete/", {"term": "\x00"}).status_code == 400


def test_view_site_links_to_the_api_docs(op):
    # Not to "/", which is not a page.
    page = op.get(url("index")).content.decode()
    assert 'href="/api/docs/">View site</a>' in page
    assert op.get("/api/docs/").status_code == 200
