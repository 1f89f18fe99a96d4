"""Every admin changelist and change form runs the same number of queries at two data
sizes (books in the catalog, items in an order, tokens); the budget prints the SQL when
it is wrong.

Every logged-in admin page starts with the session and the user, and the navigation
sidebar asks each registered admin whether to list it: django.contrib.auth's Group admin
asks Django's permissions (the user's and their groups', cached for the request). Those
four queries are BASE.
"""

from __future__ import annotations

import pytest

from catalog.services import book_search_documents_refresh
from orders.models import OrderStatus
from perf.pytest_plugin import query_budget
from tenants.services import api_token_issue
from tests.admin.conftest import catalog, logged_in, url
from tests.factories import OperatorFactory, OrderFactory, OrderItemFactory, UserFactory

pytestmark = pytest.mark.django_db

SIZES = [5, 60]

BASE = 4
# COUNT, the page (relations joined), the publisher and genre filters' choices.
BOOK_CHANGELIST = BASE + 4
# The book, its genre ids, the selected author, publisher and genres.
BOOK_CHANGE_FORM = BASE + 5
# COUNT, the page.
NAMED_CHANGELIST = BASE + 2
# The row.
NAMED_CHANGE_FORM = BASE + 1
# COUNT, the page (user joined).
ORDER_CHANGELIST = BASE + 2
# The order (user joined), its items (books joined).
ORDER_CHANGE_FORM = BASE + 2
TOKEN_CHANGELIST = BASE + 2
TOKEN_CHANGE_FORM = BASE + 1
# No sidebar: session, user, COUNT, the page of 20.
AUTOCOMPLETE = 4


def measured(client, path, budget, params=None):
    """Warm the per-process caches with one request, then pin the next one's count."""
    assert client.get(path, params).status_code == 200
    with query_budget(budget, exact=True):
        response = client.get(path, params)
    assert response.status_code == 200
    assert response["X-Query-Count"] == str(budget)
    return response


@pytest.fixture
def shop(tenant):
    """An operator's client and a catalog filled by ``fill(n)``."""

    class Shop:
        client = logged_in(OperatorFactory(tenant=tenant))

        def fill(self, n):
            books = catalog(tenant, n)
            book_search_documents_refresh(tenant=tenant)
            return books

    return Shop()


@pytest.mark.parametrize("n", SIZES)
def test_book_changelist(shop, n):
    shop.fill(n)
    measured(shop.client, url("catalog_book_changelist"), BOOK_CHANGELIST)


@pytest.mark.parametrize("n", SIZES)
def test_book_changelist_search_and_filters(shop, n):
    books = shop.fill(n)
    measured(shop.client, url("catalog_book_changelist"), BOOK_CHANGELIST, {"q": "book"})
    measured(
        shop.client,
        url("catalog_book_changelist"),
        BOOK_CHANGELIST,
        {"q": books[0].isbn},
    )
    genre = books[0].genres.first()
    measured(
        shop.client,
        url("catalog_book_changelist"),
        BOOK_CHANGELIST,
        {"genres__id__exact": genre.pk, "stock": "in", "o": "2"},
    )


@pytest.mark.parametrize("n", SIZES)
def test_book_change_form(shop, n):
    books = shop.fill(n)
    measured(shop.client, url("catalog_book_change", books[0].pk), BOOK_CHANGE_FORM)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("name", ["catalog_author", "catalog_publisher", "catalog_genre"])
def test_named_changelists_and_change_forms(shop, tenant, n, name):
    from tests.factories import AuthorFactory, GenreFactory, PublisherFactory

    factory = {
        "catalog_author": AuthorFactory,
        "catalog_publisher": PublisherFactory,
        "catalog_genre": GenreFactory,
    }[name]
    rows = factory.create_batch(n, tenant=tenant)
    measured(shop.client, url(f"{name}_changelist"), NAMED_CHANGELIST)
    measured(shop.client, url(f"{name}_changelist"), NAMED_CHANGELIST, {"q": "1"})
    measured(shop.client, url(f"{name}_change", rows[0].pk), NAMED_CHANGE_FORM)


@pytest.mark.parametrize("n", SIZES)
def test_autocomplete(shop, n):
    shop.fill(n)
    params = {"app_label": "catalog", "model_name": "book", "field_name": "author", "term": "a"}
    measured(shop.client, "/admin/autocomplete/", AUTOCOMPLETE, params)


@pytest.mark.parametrize("n", SIZES)
def test_order_changelist_and_change_form(shop, tenant, n):
    books = shop.fill(n)
    user = UserFactory(tenant=tenant)
    orders = OrderFactory.create_batch(n, tenant=tenant, user=user, status=OrderStatus.PAID)
    # The measured order has n items.
    for book in books:
        OrderItemFactory(order=orders[0], book=book)
    measured(shop.client, url("orders_order_changelist"), ORDER_CHANGELIST)
    measured(
        shop.client, url("orders_order_changelist"), ORDER_CHANGELIST, {"status__exact": "paid"}
    )
    measured(shop.client, url("orders_order_change", orders[0].pk), ORDER_CHANGE_FORM)


@pytest.mark.parametrize("n", SIZES)
def test_token_changelist_and_change_form(shop, tenant, n):
    user = UserFactory(tenant=tenant)
    tokens = [api_token_issue(user=user)[0] for _ in range(n)]
    measured(shop.client, url("tenants_apitoken_changelist"), TOKEN_CHANGELIST)
    measured(shop.client, url("tenants_apitoken_changelist"), TOKEN_CHANGELIST, {"state": "active"})
    measured(shop.client, url("tenants_apitoken_change", tokens[0].pk), TOKEN_CHANGE_FORM)


@pytest.mark.parametrize("n", SIZES)
def test_superuser_book_changelist(admin_client, tenant, other_tenant, n):
    catalog(tenant, n)
    catalog(other_tenant, n)
    # Superusers skip the permission queries (BASE - 2); the tenant filter's choices are
    # one more query, and the tenant column is joined to the page.
    measured(admin_client, url("catalog_book_changelist"), BOOK_CHANGELIST - 2 + 1)


# Saving a book: session, user (the admin's atomic: BEGIN/COMMIT, uncounted); the book,
# its genre ids (initial), the posted author, publisher and genres; Django's model
# validation (author and publisher exist, ISBN free in the tenant, the two check
# constraints in savepoint pairs); book_update (genre check, UPDATE, genres DELETE and
# INSERT, search document, in savepoints); the log entry.
BOOK_SAVE = 26


@pytest.mark.parametrize("genres", [1, 8])
def test_book_save_runs_the_same_queries_for_any_number_of_genres(shop, tenant, genres):
    from tests.factories import GenreFactory

    book = shop.fill(1)[0]
    chosen = GenreFactory.create_batch(genres, tenant=tenant)
    data = {
        "title": "Saved Again",
        "isbn": book.isbn,
        "author": book.author_id,
        "publisher": book.publisher_id,
        "genre_ids": [g.pk for g in chosen],
        "price": "3.00",
        "stock": "2",
        "published_on": "2020-01-01",
        "description": book.description,
    }
    path = url("catalog_book_change", book.pk)
    assert shop.client.get(path).status_code == 200  # warm the per-process caches
    with query_budget(BOOK_SAVE, exact=True):
        response = shop.client.post(path, data)
    assert response.status_code == 302
    assert book.genres.count() == genres
