"""The raw twin (benchmarks/twin.py) answers byte for byte what ShelfWise answers.

ShelfWise through Django's test client, the twin as a direct WSGI call against the same
(committed) rows, so that ``bench --race`` compares equal work. Titles share words and
several books share one title, so that search ranks tie and keyset cursors tie-break on id.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import urlsplit

import orjson
import pytest
from django.test import Client

from benchmarks import twin
from catalog.services import book_search_documents_refresh
from shelfwise.db.urls import current_database_url
from tenants.models import Role
from tenants.services import api_token_issue, api_token_revoke, user_get_or_create
from tests.factories import (
    AuthorFactory,
    BookFactory,
    BookGenreFactory,
    GenreFactory,
    PublisherFactory,
    TenantFactory,
)

HOST = "testserver"
TITLES = ["Harbor Lights", "The Harbor", "Salt and Harbor Winds", "Quiet Fields", "Harbor Lights"]


@pytest.fixture
def catalog(transactional_db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", current_database_url())
    tenant = TenantFactory(slug="twin-shop")
    other = TenantFactory(slug="twin-other")
    authors = [AuthorFactory(tenant=tenant, name=f"Ada {i}") for i in range(3)]
    publisher = PublisherFactory(tenant=tenant)
    genres = [GenreFactory(tenant=tenant, name=name) for name in ("Sea", "Mystery", "Art")]
    books = []
    for i in range(23):
        book = BookFactory(
            tenant=tenant,
            title=TITLES[i % len(TITLES)],
            author=authors[i % 3],
            publisher=publisher,
            price=Decimal(f"{i}.{i % 10}0"),
            published_on=None if i % 4 == 0 else dt.date(2020, 1, 1 + i),
            description=f'Book {i} about "harbors" and ünïcode',
        )
        for genre in genres[: i % 4]:
            BookGenreFactory(book=book, genre=genre)
        books.append(book)
    foreign = BookFactory(tenant=other, title="Harbor Lights")
    book_search_documents_refresh(tenant=tenant)
    book_search_documents_refresh(tenant=other)
    user = user_get_or_create(tenant=tenant, username="twin-member", role=Role.MEMBER)
    token, raw = api_token_issue(user=user, name="twin")
    yield {"raw": raw, "token": token, "books": books, "foreign": foreign, "user": user}
    twin.close_connection()


def _shelfwise(path: str, raw: str) -> tuple[int, bytes]:
    response = Client().get(path, HTTP_AUTHORIZATION=f"Bearer {raw}", HTTP_HOST=HOST)
    if response.streaming:
        return response.status_code, b"".join(response.streaming_content)
    return response.status_code, response.content


def _twin(path: str, raw: str) -> tuple[int, bytes]:
    parts = urlsplit(path)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": parts.path,
        "QUERY_STRING": parts.query,
        "HTTP_HOST": HOST,
        "HTTP_AUTHORIZATION": f"Bearer {raw}",
        "REMOTE_ADDR": "127.0.0.1",
    }
    status: list[str] = []
    body = b"".join(twin.application(environ, lambda s, headers: status.append(s)))
    return int(status[0].split()[0]), body


def _same(path: str, raw: str) -> bytes:
    shelfwise = _shelfwise(path, raw)
    assert _twin(path, raw) == shelfwise, path
    return shelfwise[1]


def test_catalog_pages_are_identical(catalog):
    first = orjson.loads(_same("/api/v2/books?limit=5", catalog["raw"]))
    assert first["count"] == 23 and first["next"] and first["previous"] is None
    _same("/api/v2/books?page=3&limit=5", catalog["raw"])
    last = orjson.loads(_same("/api/v2/books?page=5&limit=5", catalog["raw"]))
    assert len(last["results"]) == 3 and last["next"] is None
    _same("/api/v2/books?page=9&limit=5", catalog["raw"])  # past the end
    _same("/api/v2/books", catalog["raw"])  # default limit


def test_keyset_pages_and_their_links_are_identical(catalog):
    page = orjson.loads(_same("/api/v2/books?cursor=&limit=4", catalog["raw"]))
    seen = 0
    while page["next"]:
        seen += len(page["results"])
        page = orjson.loads(_same(page["next"].removeprefix(f"http://{HOST}"), catalog["raw"]))
    assert seen + len(page["results"]) == 23
    back = orjson.loads(_same(page["previous"].removeprefix(f"http://{HOST}"), catalog["raw"]))
    assert back["results"] and back["count"] is None


def test_detail_search_and_export_are_identical(catalog):
    for book in catalog["books"][:5]:
        _same(f"/api/v2/books/{book.id}", catalog["raw"])
    found = orjson.loads(_same("/api/v2/books/search?q=harbor&limit=3", catalog["raw"]))
    assert found["count"] > 3 and "rank" in found["results"][0]
    _same("/api/v2/books/search?q=harbor&limit=3&page=2", catalog["raw"])
    _same("/api/v2/books/search?q=nothingmatches", catalog["raw"])
    export = _same("/api/v2/books/export", catalog["raw"])
    assert export.endswith(b'{"complete":true,"count":23}\n')


def test_refusals_are_identical(catalog):
    raw = catalog["raw"]
    assert _same(f"/api/v2/books/{catalog['foreign'].id}", raw).startswith(b'{"error"')
    assert _shelfwise(f"/api/v2/books/{catalog['foreign'].id}", raw)[0] == 404
    bad_cursor = _same("/api/v2/books?cursor=bm90IGpzb24", raw)
    assert b"Invalid cursor." in bad_cursor
    _same("/api/v2/books?limit=101", raw)
    _same("/api/v2/books/search?q=", raw)
    api_token_revoke(token=catalog["token"])
    assert _shelfwise("/api/v2/books", raw)[0] == 401
    _same("/api/v2/books", raw)
    _same("/api/v2/books", "sw_unknown")
