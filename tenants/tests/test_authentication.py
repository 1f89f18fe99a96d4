from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.exceptions import FieldFetchBlocked
from django.utils import timezone

from perf.pytest_plugin import query_budget
from tenants.models import ApiToken
from tenants.selectors import API_TOKEN_AUTH_FIELDS, api_token_get_active
from tenants.services import LAST_USED_INTERVAL, api_token_issue, api_token_revoke
from tenants.tests.api_client import ApiClient, client_for, error_code
from tests.factories import AuthorFactory, OperatorFactory, UserFactory

pytestmark = [
    pytest.mark.django_db,
]

PROBE = "/api/v2/authors"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer sw_unknown",
        "Bearer a b",
        "Token sw_whatever",
        "Basic dXNlcjpwdw==",
    ],
)
def test_missing_malformed_or_unknown_tokens_are_401(client, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.get(PROBE, headers=headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert error_code(response) in {"not_authenticated", "authentication_failed"}
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_non_ascii_token_is_401(client):
    response = client.get(PROBE, HTTP_AUTHORIZATION="Bearer t\u00f6ken".encode().decode("latin-1"))
    assert response.status_code == 401


def test_revoked_token_is_401(tenant):
    user = UserFactory(tenant=tenant)
    token, raw = api_token_issue(user=user)
    client = ApiClient(raw, user)
    assert client.get(PROBE).status_code == 200
    api_token_revoke(token=token)
    response = client.get(PROBE)
    assert response.status_code == 401
    assert error_code(response) == "authentication_failed"


@pytest.mark.parametrize("deactivate", ["user", "tenant"])
def test_inactive_user_or_tenant_is_401(tenant, deactivate):
    user = UserFactory(tenant=tenant)
    client = client_for(user)
    target = user if deactivate == "user" else tenant
    target.is_active = False
    target.save()
    assert client.get(PROBE).status_code == 401


def test_authentication_is_one_query(member):
    # Authentication plus COUNT (no rows: no page query).
    with query_budget(2, exact=True) as recording:
        assert member.get(PROBE).status_code == 200
    assert "tenants_apitoken" in recording.queries[0].sql
    assert "JOIN" in recording.queries[0].sql


def test_token_query_reads_only_what_authentication_uses(member):
    # It runs on every request: no sort (the key hash is unique) and no column that no
    # check reads (passwords, emails, names...).
    with query_budget(2, exact=True) as recording:
        assert member.get(PROBE).status_code == 200
    sql = recording.queries[0].sql
    assert "tenants_apitoken" in sql
    assert "ORDER BY" not in sql
    unused = {
        "tenants_user": ("password", "email", "username", "last_login", "date_joined"),
        "tenants_tenant": ("slug", "name", "created_at"),
        "tenants_apitoken": ("key_prefix", "name", "created_at"),
    }
    for table, columns in unused.items():
        for column in columns:
            assert not re.search(rf"\b{column}\b", sql), (table, column)


def test_the_token_user_and_tenant_hold_only_the_fields_authentication_reads(tenant):
    # Built by hand from one statement (Model.from_db): everything else is deferred, and
    # touching it fails in tests (FETCH_RAISE) instead of querying.
    _, raw = api_token_issue(user=UserFactory(tenant=tenant))
    token = api_token_get_active(raw_key=raw, client_address="127.0.0.1")
    assert token is not None and token.lockout_left is None
    loaded = {
        token: {f for f in API_TOKEN_AUTH_FIELDS if "__" not in f},
        token.user: {
            f.removeprefix("user__") for f in API_TOKEN_AUTH_FIELDS if f.startswith("user__")
        },
        token.tenant: {
            f.removeprefix("tenant__") for f in API_TOKEN_AUTH_FIELDS if f.startswith("tenant__")
        },
    }
    for instance, fields in loaded.items():
        attnames = {f.attname for f in instance._meta.concrete_fields}
        assert instance.get_deferred_fields() == attnames - fields, type(instance)
    assert (token.tenant_id, token.user.tenant_id, token.tenant.id) == (tenant.id,) * 3
    with pytest.raises(FieldFetchBlocked):
        token.user.username  # noqa: B018 - deferred


def test_last_used_at_is_written_at_most_once_per_interval(tenant, member):
    # (``member`` has warmed the per-tenant caches that live outside the API.)
    user = UserFactory(tenant=tenant)
    token, raw = api_token_issue(user=user)
    client = ApiClient(raw, user)
    with query_budget(3, exact=True):  # token, last_used_at UPDATE, COUNT
        client.get(PROBE)
    token.refresh_from_db()
    first_use = token.last_used_at
    assert first_use is not None
    with query_budget(2, exact=True):  # no write within the interval
        client.get(PROBE)
    token.refresh_from_db()
    assert token.last_used_at == first_use

    stale = timezone.now() - LAST_USED_INTERVAL - dt.timedelta(seconds=1)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=stale)
    client.get(PROBE)
    token.refresh_from_db()
    assert token.last_used_at > stale


def test_the_token_decides_the_tenant(member, other_member, tenant, other_tenant):
    mine = AuthorFactory(tenant=tenant)
    theirs = AuthorFactory(tenant=other_tenant)
    assert [a["id"] for a in member.get(PROBE).json()["results"]] == [str(mine.id)]
    assert [a["id"] for a in other_member.get(PROBE).json()["results"]] == [str(theirs.id)]
    # Nothing in the request can pick the tenant: not a query parameter, not a header.
    spoofed = member.get(
        PROBE, {"tenant": other_tenant.id}, headers={"X-Tenant": other_tenant.slug}
    )
    assert [a["id"] for a in spoofed.json()["results"]] == [str(mine.id)]


def test_roles(tenant):
    member = client_for(UserFactory(tenant=tenant))
    operator = client_for(OperatorFactory(tenant=tenant))
    assert member.get("/api/v2/books").status_code == 200
    assert member.post("/api/v2/books/bulk", []).status_code == 403
    assert operator.post("/api/v2/books/bulk", []).status_code == 400  # allowed; empty
