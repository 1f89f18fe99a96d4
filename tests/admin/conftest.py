"""Admin test fixtures: operators of two tenants, a member, and logged-in clients."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import (
    AuthorFactory,
    BookFactory,
    BookGenreFactory,
    GenreFactory,
    OperatorFactory,
    PublisherFactory,
    UserFactory,
)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def operator_user(tenant):
    return OperatorFactory(tenant=tenant)


@pytest.fixture
def op(operator_user) -> Client:
    """An operator of ``tenant``, logged in to the admin."""
    return logged_in(operator_user)


@pytest.fixture
def other_op(other_tenant) -> Client:
    return logged_in(OperatorFactory(tenant=other_tenant))


@pytest.fixture
def member_user(tenant):
    return UserFactory(tenant=tenant)


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def catalog(tenant, n: int, *, genres_per_book: int = 2, prefix: str = ""):
    """``n`` books of one author and publisher, each in the same genres."""
    author = AuthorFactory(tenant=tenant, name=f"{prefix}Author")
    publisher = PublisherFactory(tenant=tenant, name=f"{prefix}Publisher")
    genres = [
        GenreFactory(tenant=tenant, name=f"{prefix}Genre {i}") for i in range(genres_per_book)
    ]
    books = BookFactory.create_batch(n, tenant=tenant, author=author, publisher=publisher)
    for book in books:
        for genre in genres:
            BookGenreFactory(book=book, genre=genre)
    return books


def result_ids(response) -> set:
    return {obj.pk for obj in response.context["cl"].result_list}
