from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from tenants.models import ApiToken, Role, User, hash_token
from tests.factories import UserFactory

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


def test_an_operator_without_a_password_is_told_how_to_set_one(tenant):
    err = io.StringIO()
    _issue(tenant.slug, "ops", "--role", "operator", stderr=err)
    assert "manage.py changepassword ops" in err.getvalue()
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


def test_a_user_of_another_tenant_is_refused(tenant, other_tenant):
    UserFactory(tenant=other_tenant, username="taken")
    with pytest.raises(CommandError, match=rf"another tenant: .* e\.g\. {tenant.slug}-taken"):
        _issue(tenant.slug, "taken")
    assert not ApiToken.objects.exists()
