"""Admin logins lock out after repeated wrong passwords (django-axes, attempts in the database)."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from tests.admin.conftest import url

pytestmark = pytest.mark.django_db

LIMIT = 3
LOGIN = "/admin/login/?next=/admin/"


def _login(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


@override_settings(AXES_FAILURE_LIMIT=LIMIT)
def test_wrong_passwords_lock_the_admin_login(operator_user):
    client = Client()
    for _ in range(LIMIT - 1):
        response = _login(client, operator_user.login, "wrong")
        assert response.status_code == 200  # the form again, with its error
        assert response.context["form"].errors
    assert _login(client, operator_user.login, "wrong").status_code == 429
    # Locked out: the right password does not get in either.
    response = _login(client, operator_user.login, "pw")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get(url("index")).status_code == 302  # still to the login page


@override_settings(AXES_FAILURE_LIMIT=LIMIT)
def test_an_operator_logs_in_through_the_form_and_sees_only_their_admin(operator_user):
    client = Client()
    _login(client, operator_user.login, "wrong")
    response = _login(client, operator_user.login, "pw")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    app_list = client.get(url("index")).context["app_list"]
    models = {m["object_name"] for app in app_list for m in app["models"]}
    assert models == {"Author", "Book", "Genre", "Publisher", "Order", "ApiToken"}
