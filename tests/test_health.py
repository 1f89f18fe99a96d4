from __future__ import annotations

import pytest
from django.db import DatabaseError

from perf.budgets import budget
from perf.pytest_plugin import query_budget


@pytest.mark.django_db
def test_health_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/api/v2/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_checks_the_database(client):
    with query_budget(budget("GET /api/v2/ready"), exact=True):
        response = client.get("/api/v2/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


@pytest.mark.django_db
def test_ready_is_503_when_the_database_fails(client, monkeypatch):
    from django.db.backends.utils import CursorWrapper

    def broken(self, sql, params=None):
        raise DatabaseError("down")

    monkeypatch.setattr(CursorWrapper, "execute", broken)
    response = client.get("/api/v2/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
