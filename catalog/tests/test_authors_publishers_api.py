from __future__ import annotations

import pytest

from perf.budgets import budget
from perf.pytest_plugin import query_budget
from tests.factories import AuthorFactory, PublisherFactory

pytestmark = [
    pytest.mark.django_db,
]


@pytest.mark.parametrize(
    ("path", "factory"),
    [("/api/v2/authors", AuthorFactory), ("/api/v2/publishers", PublisherFactory)],
)
@pytest.mark.parametrize("n_rows", [5, 60])
def test_list_by_name_with_constant_queries(member, tenant, other_tenant, path, factory, n_rows):
    rows = factory.create_batch(n_rows, tenant=tenant)
    factory.create_batch(2, tenant=other_tenant)
    with query_budget(budget(f"GET {path}"), exact=True):
        response = member.get(path, {"limit": 100})
    body = response.json()
    assert body["count"] == n_rows
    assert [row["id"] for row in body["results"]] == [
        str(r.id) for r in sorted(rows, key=lambda r: (r.name, str(r.id)))
    ]


@pytest.mark.parametrize(
    ("path", "factory"),
    [("/api/v2/authors", AuthorFactory), ("/api/v2/publishers", PublisherFactory)],
)
def test_detail_and_isolation(member, tenant, other_tenant, path, factory):
    mine, theirs = factory(tenant=tenant), factory(tenant=other_tenant)
    with query_budget(budget(f"GET {path}/{{id}}"), exact=True):
        response = member.get(f"{path}/{mine.id}")
    assert response.json() == {"id": str(mine.id), "name": mine.name}
    assert member.get(f"{path}/{theirs.id}").status_code == 404
