"""The published schema and the server agree on the constraints the fuzzer found
(tests/test_schema_fuzz.py runs the fuzzer itself; these pin each finding fast)."""

from __future__ import annotations

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from catalog.serializers import BookCreateSerializer
from tenants.tests.api_client import member, operator  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _query_param(schema, path, name):
    params = schema["paths"][path]["get"]["parameters"]
    return next(p["schema"] for p in params if p["name"] == name)


def _request_property(schema, component, name):
    return schema["components"]["schemas"][component]["properties"][name]


def _schema_accepts(prop, value):
    if not isinstance(value, str):
        return False
    if len(value) > prop.get("maxLength", len(value)) or len(value) < prop.get("minLength", 0):
        return False
    # JSON Schema patterns are unanchored searches; ours anchor themselves.
    return re.search(prop["pattern"], value) is not None and "\n" not in value


def _server_accepts(field, value):
    params = BookCreateSerializer(data={field: value}, partial=True)
    params.is_valid()
    return field not in params.errors


def test_page_has_its_maximum(schema):
    assert _query_param(schema, "/api/v2/books", "page")["maximum"] == 1_000_000


def test_bulk_import_declares_its_row_bounds(schema):
    body = schema["paths"]["/api/v2/books/bulk"]["post"]["requestBody"]
    array = body["content"]["application/json"]["schema"]
    assert (array["minItems"], array["maxItems"]) == (1, 1000)


@pytest.mark.parametrize(
    "isbn",
    [
        "9780306406157",
        "978-0-306-40615-7",
        "0-306-40615-2",
        "030640615x",
        "0 306 40615 X",
        "0",
        "",
        "97803064061577",
        "\t9780306406157",
        "0000000000--------",
        "".join(chr(0xFF10 + int(d)) for d in "9780306406157"),  # fullwidth digits
    ],
)
def test_isbn_pattern_says_what_the_server_accepts(schema, isbn):
    prop = _request_property(schema, "BookCreateRequest", "isbn")
    assert _schema_accepts(prop, isbn) == _server_accepts("isbn", isbn)


@pytest.mark.parametrize(
    "price", ["12.50", "0", "99999999.99", "", "1e2", "+1", " 1", "12.345", "-0.01", "NaN", 12.5]
)
def test_price_pattern_says_what_the_server_accepts(schema, price):
    prop = _request_property(schema, "BookCreateRequest", "price")
    assert _schema_accepts(prop, price) == _server_accepts("price", price)


@pytest.mark.parametrize("price", ["10", "1e2", "+1", " 1", "abc", "12.345"])
def test_price_filters_follow_the_same_pattern(schema, member, price):  # noqa: F811
    prop = _query_param(schema, "/api/v2/books", "min_price")
    response = member.get("/api/v2/books", {"min_price": price, "max_price": price})
    assert response.status_code == (200 if _schema_accepts(prop, price) else 400)


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/v2/books", "publisher"),
        ("/api/v2/books", "author"),
        ("/api/v2/books", "ordering"),
        ("/api/v2/books", "min_price"),
        ("/api/v2/orders", "status"),
    ],
)
@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_filter_is_a_400_not_the_unfiltered_list(member, path, param, blank):  # noqa: F811
    response = member.get(path, {param: blank})
    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"] == {param: ["This field may not be blank."]}


def test_a_cursor_outside_its_pattern_is_a_400(schema, member):  # noqa: F811
    assert not re.search(_query_param(schema, "/api/v2/books", "cursor")["pattern"], "e30=")
    assert member.get("/api/v2/books", {"cursor": "e30="}).status_code == 400
