"""The API-wide contract: one error shape, size limits, throttling, the OpenAPI schema."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command

from shelfwise.http.throttling import TenantUserRateThrottle
from tests.factories import BookFactory

pytestmark = [
    pytest.mark.django_db,
]


def assert_error_shape(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_malformed_json_is_400(member):
    assert_error_shape(member.post("/api/v2/orders", b'{"items": [}'), 400, "parse_error")


def test_unsupported_media_type_is_415(member):
    response = member._client.post(
        "/api/v2/orders", "items=1", content_type="text/plain", headers=member._headers
    )
    assert_error_shape(response, 415, "unsupported_media_type")


def test_oversized_body_is_413(member):
    body = b'{"items": "' + b"x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + b'"}'
    assert_error_shape(member.post("/api/v2/orders", body), 413, "request_too_large")


def test_unknown_api_path_is_a_json_404(member):
    assert_error_shape(member.get("/api/v2/nothing-here"), 404, "not_found")
    assert_error_shape(member.get("/api/v3/books"), 404, "not_found")


def test_wrong_method_is_405(member, operator):
    # Permissions are checked first, so a member's DELETE on the list would be a 403.
    assert_error_shape(operator.delete("/api/v2/books"), 405, "method_not_allowed")
    assert_error_shape(member.patch("/api/v2/books/search", {}), 405, "method_not_allowed")


def test_validation_errors_carry_field_details(operator):
    response = operator.post("/api/v2/books", {"title": ""})
    assert_error_shape(response, 400, "invalid")
    details = response.json()["error"]["details"]
    assert {"title", "isbn", "price", "author_id", "publisher_id"} <= set(details)


def test_throttling_is_429_with_retry_after(member, monkeypatch, tenant):
    cache.clear()
    monkeypatch.setattr(TenantUserRateThrottle, "THROTTLE_RATES", {"tenant_user": "3/min"})
    statuses = [member.get("/api/v2/authors").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = member.get("/api/v2/authors")
    assert_error_shape(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["details"]["retry_after"] > 0


def test_money_is_an_exact_two_place_string(member, tenant):
    BookFactory(tenant=tenant, price="7")
    row = member.get("/api/v2/books").json()["results"][0]
    assert row["price"] == "7.00"


def test_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v2/books", "/api/v2/books/{book_id}", "/api/v2/orders/{order_id}/cancel"} <= set(
        paths
    )
    assert paths["/api/v2/orders"]["post"]["responses"].keys() >= {"201", "200", "409", "422"}
    assert client.get("/api/docs/").status_code == 200


def test_schema_validates_without_warnings(tmp_path):
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")
    )
