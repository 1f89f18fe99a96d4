"""``GET /api/v2/``: the API's entry point."""

from __future__ import annotations

import pytest

from perf.budgets import budget
from perf.pytest_plugin import query_budget
from shelfwise.api_root import LINKS
from tenants.tests.api_client import member  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def test_the_root_links_every_collection_and_each_link_answers(member):  # noqa: F811
    with query_budget(budget("GET /api/v2/"), exact=True):
        response = member.get("/api/v2/")
    assert response.status_code == 200
    links = response.json()
    assert set(links) == set(LINKS)
    for name, link in links.items():
        assert link.startswith("http://testserver/api/v2/"), name
        path = link.removeprefix("http://testserver")
        params = {"q": "x"} if name == "books_search" else {}
        assert member.get(path, params).status_code == 200, name


def test_the_root_needs_a_token(client):
    response = client.get("/api/v2/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
