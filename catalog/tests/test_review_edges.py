"""Inputs that once reached PostgreSQL unchecked (found in review): each is a clean 4xx."""

from __future__ import annotations

import base64

import orjson
import pytest

from catalog.models import Book
from tenants.tests.api_client import error_code
from tests.factories import BookFactory

pytestmark = pytest.mark.django_db


def _cursor(value: str, pk: str) -> str:
    raw = orjson.dumps({"b": False, "v": value, "id": pk})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("ordering", "value"),
    [("title", "A\x00B"), ("price", "1E+1000000"), ("price", "NaN"), ("title", "x" * 301)],
)
def test_a_doctored_cursor_is_a_400(member, tenant, ordering, value):
    book = BookFactory(tenant=tenant)
    response = member.get(
        "/api/v2/books", {"ordering": ordering, "cursor": _cursor(value, str(book.pk))}
    )
    assert response.status_code == 400
    assert error_code(response) == "invalid"
    assert "cursor" in response.json()["error"]["details"]


def test_a_nul_in_an_author_cursor_is_a_400(member, tenant):
    book = BookFactory(tenant=tenant)
    response = member.get("/api/v2/authors", {"cursor": _cursor("\x00", str(book.author_id))})
    assert response.status_code == 400


# Fullwidth and Arabic-Indic digits: \d matches them, PostgreSQL stores them as text.
@pytest.mark.parametrize(
    "isbn",
    [
        "\uff19\uff17\uff18\uff10\uff13\uff10\uff16\uff14\uff10\uff16\uff11\uff15\uff17",
        "\u0669\u0667\u0668\u0660\u0663\u0660\u0666\u0664\u0660\u0666\u0661\u0665\u0667",
    ],
)
def test_isbns_take_ascii_digits_only(operator, tenant, isbn):
    book = BookFactory(tenant=tenant)
    body = {
        "isbn": isbn,
        "title": "T",
        "price": "1.00",
        "author_id": str(book.author_id),
        "publisher_id": str(book.publisher_id),
    }
    response = operator.post("/api/v2/books", body)
    assert response.status_code == 400
    assert "isbn" in response.json()["error"]["details"]
    assert Book.objects.across_tenants("test").count() == 1


def test_stock_is_capped_far_below_the_column_limit(operator, tenant):
    book = BookFactory(tenant=tenant)
    response = operator.patch(f"/api/v2/books/{book.pk}", {"stock": 1_000_001})
    assert response.status_code == 400
    book.refresh_from_db()
    assert book.stock == 10


@pytest.mark.parametrize(
    "path", ["/api/v2/nope", "/api/v2/books/not-a-uuid", "/api/v2/orders/123/cancel"]
)
def test_any_method_on_an_unknown_api_path_is_a_json_404(member, path):
    response = member.post(path, {})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert error_code(response) == "not_found"
