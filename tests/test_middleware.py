import pytest


@pytest.mark.django_db
def test_a_chunked_body_without_content_length_is_411_not_a_misleading_400(client):
    response = client.generic(
        "POST",
        "/api/v2/orders",
        b"",
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
    )
    assert response.status_code == 411
    assert response.json()["error"]["code"] == "length_required"


@pytest.mark.django_db
def test_ordinary_requests_pass(client):
    assert client.get("/api/v2/health").status_code == 200


@pytest.mark.django_db
def test_a_nul_byte_in_the_query_string_is_a_400(client):
    response = client.get("/api/v2/books/search", {"q": "a\x00b"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
