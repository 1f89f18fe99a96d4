"""An authenticated JSON client for API tests, and fixtures built on it.

Imported by each app's tests/conftest.py.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.test import Client
from django.utils import timezone

from tenants.models import ApiToken, User
from tenants.services import api_token_issue
from tests.factories import OperatorFactory, TenantFactory, UserFactory


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=str)


class ApiClient:
    """Sends ``Authorization: Bearer <token>``; bodies are JSON (or raw bytes/str as given)."""

    def __init__(self, raw_key: str | None, user: User | None = None) -> None:
        self.user = user
        self.tenant = user.tenant if user is not None else None
        self._client = Client()
        self._headers = {"Authorization": f"Bearer {raw_key}"} if raw_key else {}

    def _call(self, method: str, path: str, data: Any = None, headers: Any = None, **kw: Any):
        all_headers = {**self._headers, **(headers or {})}
        if method in {"post", "patch", "put"}:
            body = data if isinstance(data, bytes | str) else _dumps(data)
            return getattr(self._client, method)(
                path, body, content_type="application/json", headers=all_headers, **kw
            )
        return getattr(self._client, method)(path, data, headers=all_headers, **kw)

    def get(self, path: str, params: Any = None, **kw: Any):
        return self._call("get", path, params, **kw)

    def post(self, path: str, data: Any = None, **kw: Any):
        return self._call("post", path, data, **kw)

    def patch(self, path: str, data: Any = None, **kw: Any):
        return self._call("patch", path, data, **kw)

    def delete(self, path: str, **kw: Any):
        return self._call("delete", path, **kw)


def client_for(user: User) -> ApiClient:
    """A client with a fresh token, in the steady state that query budgets measure: the
    token is marked as recently used (no last_used_at write, which happens at most once
    per interval) and one request has been made, so that per-tenant caches outside the
    API (perf's tenant tier, for metrics) are warm."""
    token, raw = api_token_issue(user=user)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    client = ApiClient(raw, user)
    client.get("/api/v2/authors", {"limit": 1})
    return client


def error_code(response: Any) -> str:
    return response.json()["error"]["code"]


@pytest.fixture
def member(tenant) -> ApiClient:
    return client_for(UserFactory(tenant=tenant))


@pytest.fixture
def operator(tenant) -> ApiClient:
    return client_for(OperatorFactory(tenant=tenant))


@pytest.fixture
def other_member(other_tenant) -> ApiClient:
    return client_for(UserFactory(tenant=other_tenant))


@pytest.fixture
def anonymous(db) -> ApiClient:
    return ApiClient(None)


__all__ = [
    "ApiClient",
    "TenantFactory",
    "anonymous",
    "client_for",
    "error_code",
    "member",
    "operator",
    "other_member",
]
