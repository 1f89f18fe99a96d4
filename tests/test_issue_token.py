from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from tenants.models import ApiToken, Role, User, hash_token
from tests.factories import BookFactory

pytestmark = pytest.mark.django_db


def _issue(*args: str, stderr: io.StringIO | None = None) -> str:
    out = io.StringIO()
    call_command("issue_token", *args, stdout=out, stderr=stderr or io.StringIO())
    return out.getvalue()


def test_prints_only_the_token_and_stores_its_hash(tenant):
    output = _issue(tenant.slug, "integration", "--role", "operator")
    raw = output.strip()
    assert output == raw + "\n"
    assert raw.startswith("sw_") and len(raw) > 40
    token = ApiToken.objects.get()
    assert token.key_hash == hash_token(raw) != raw
    assert token.tenant == tenant
    user = User.objects.get(username="integration")
    assert (user.tenant, user.role, user.is_staff) == (tenant, Role.OPERATOR, True)
    assert not user.has_usable_password()


def test_an_operator_is_told_their_login_and_how_to_set_a_password(tenant):
    err = io.StringIO()
    _issue(tenant.slug, "ops", "--role", "operator", stderr=err)
    assert f"logs in to the admin (/admin/) as {tenant.slug}/ops" in err.getvalue()
    assert f"manage.py changepassword {tenant.slug}/ops" in err.getvalue()
    member_err = io.StringIO()
    _issue(tenant.slug, "reader", stderr=member_err)
    assert member_err.getvalue() == ""


def test_new_users_default_to_member_and_existing_users_are_reused(tenant):
    _issue(tenant.slug, "app")
    _issue(tenant.slug, "app")
    user = User.objects.get(username="app")
    assert user.role == Role.MEMBER
    assert ApiToken.objects.filter(user=user).count() == 2


def test_unknown_tenant_is_a_clear_error(db):
    with pytest.raises(CommandError, match="no tenant with slug 'nope'"):
        _issue("nope", "someone")


def test_the_same_username_in_two_tenants_is_two_users_with_their_own_tokens(tenant, other_tenant):
    BookFactory(tenant=tenant, title="Only in the first")
    BookFactory(tenant=other_tenant, title="Only in the second")
    raw_first = _issue(tenant.slug, "integration").strip()
    raw_second = _issue(other_tenant.slug, "integration").strip()

    users = User.objects.filter(username="integration")
    assert sorted(u.tenant_id for u in users) == sorted([tenant.id, other_tenant.id])
    for raw, own in ((raw_first, tenant), (raw_second, other_tenant)):
        token = ApiToken.objects.select_related("user").get(key_hash=hash_token(raw))
        assert (token.tenant_id, token.user.tenant_id) == (own.id, own.id)
        response = Client().get("/api/v2/books", headers={"Authorization": f"Bearer {raw}"})
        assert response.status_code == 200
        titles = [book["title"] for book in response.json()["results"]]
        assert titles == ["Only in the first" if own == tenant else "Only in the second"]


def test_a_username_the_model_refuses_is_a_command_error(tenant):
    with pytest.raises(CommandError, match=r"username 'a/b': Enter a valid username"):
        _issue(tenant.slug, "a/b")
    assert not User.objects.exists()
