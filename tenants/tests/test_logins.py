"""Usernames are unique per tenant; logins name the tenant (tenants/backends.py):
``<tenant-slug>/<username>``, or the bare username for a user without a tenant."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.test import Client

from tenants.models import Tenant, User, login_split
from tests.factories import BookFactory, OperatorFactory, UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


def _login(login: str, password: str) -> Client:
    client = Client()
    client.post(LOGIN, {"username": login, "password": password})
    return client


@pytest.fixture
def two_alices(tenant, other_tenant):
    """An operator called alice in each tenant, with different passwords."""
    return (
        OperatorFactory(tenant=tenant, username="alice", password="first-pw"),
        OperatorFactory(tenant=other_tenant, username="alice", password="second-pw"),
    )


def test_login_split():
    assert login_split("corner-books/alice") == ("corner-books", "alice")
    assert login_split("root") == (None, "root")


def test_each_alice_logs_in_to_her_own_tenant(two_alices, tenant, other_tenant):
    BookFactory(tenant=tenant, title="First tenant's book")
    BookFactory(tenant=other_tenant, title="Second tenant's book")
    for alice, password, title in (
        (two_alices[0], "first-pw", "First tenant's book"),
        (two_alices[1], "second-pw", "Second tenant's book"),
    ):
        client = _login(alice.login, password)
        assert client.session["_auth_user_id"] == str(alice.pk)
        page = client.get("/admin/catalog/book/")
        assert page.status_code == 200
        assert [str(book) for book in page.context["cl"].result_list] == [title]


def test_a_wrong_or_missing_tenant_prefix_is_refused(two_alices, tenant, other_tenant):
    for login in (f"{other_tenant.slug}/alice", "alice", "no-such-tenant/alice"):
        client = _login(login, "first-pw")
        assert "_auth_user_id" not in client.session, login
    # The other tenant's alice with her own password is the other alice, not the first.
    client = _login(f"{other_tenant.slug}/alice", "second-pw")
    assert client.session["_auth_user_id"] == str(two_alices[1].pk)


def test_a_superuser_logs_in_by_bare_name_beside_operators_of_that_name(two_alices):
    root = User.objects.create_superuser("alice", "root@example.com", "root-pw")
    assert root.login == "alice"
    assert _login("alice", "root-pw").session["_auth_user_id"] == str(root.pk)


def test_the_login_page_says_how_to_log_in(client):
    page = client.get(LOGIN).content.decode()
    assert 'placeholder="tenant/username"' in page
    longest = (
        Tenant._meta.get_field("slug").max_length + 1 + User._meta.get_field("username").max_length
    )
    assert f'maxlength="{longest}"' in page  # a full <slug>/<username> fits


def test_two_users_of_one_tenant_cannot_share_a_name(tenant, other_tenant):
    UserFactory(tenant=tenant, username="bob")
    duplicate = User(tenant=tenant, username="bob")
    with pytest.raises(ValidationError, match="This tenant already has a user with this username"):
        duplicate.validate_constraints()
    User(tenant=other_tenant, username="bob").validate_constraints()  # another tenant: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(tenant=tenant, username="bob")


def test_two_tenantless_users_cannot_share_a_name(db):
    User.objects.create_superuser("root", "", "pw-one-two")
    with pytest.raises(ValidationError, match="A user without a tenant already has"):
        User(username="root", is_superuser=True).validate_constraints()
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_superuser("root", "", "pw-one-two")


def test_createsuperuser_creates_a_tenantless_superuser_and_refuses_a_taken_name(
    two_alices, monkeypatch
):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-enough-pw")
    args = ("createsuperuser", "--noinput", "--username", "alice", "--email", "a@example.com")
    call_command(*args, stdout=io.StringIO())
    root = User.objects.get(username="alice", tenant=None)
    assert root.is_superuser and root.check_password("a-long-enough-pw")
    with pytest.raises(CommandError, match="That username is already taken"):
        call_command(*args, stdout=io.StringIO())


def _changepassword(login: str, monkeypatch, password: str = "new-long-pw-42") -> str:
    monkeypatch.setattr("getpass.getpass", lambda prompt="": password)
    out = io.StringIO()
    call_command("changepassword", login, stdout=out)
    return out.getvalue()


def test_changepassword_takes_a_login(two_alices, tenant, monkeypatch):
    assert "changed successfully" in _changepassword(f"{tenant.slug}/alice", monkeypatch)
    first, second = (User.objects.get(pk=a.pk) for a in two_alices)
    assert first.check_password("new-long-pw-42")
    assert second.check_password("second-pw")  # the other tenant's alice is untouched


def test_changepassword_of_a_superuser_by_bare_name(two_alices, monkeypatch):
    root = User.objects.create_superuser("alice", "", "old-long-pw-42")
    _changepassword("alice", monkeypatch)
    root.refresh_from_db()
    assert root.check_password("new-long-pw-42")


def test_changepassword_of_a_bare_tenant_username_says_how_to_name_it(two_alices, monkeypatch):
    with pytest.raises(CommandError, match=r"user 'alice' does not exist \(.*<tenant-slug>/"):
        _changepassword("alice", monkeypatch)
