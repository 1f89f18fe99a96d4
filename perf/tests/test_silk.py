"""django-silk beside the query counter: silk records, its own queries are not counted."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client, override_settings
from silk.config import SilkyConfig
from silk.models import Request, SQLQuery

from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("perf.tests.urls")]

STAGING_MIDDLEWARE = ["silk.middleware.SilkyMiddleware", *settings.MIDDLEWARE]


@pytest.fixture
def silk_records_everything(monkeypatch):
    monkeypatch.setitem(SilkyConfig().attrs, "SILKY_INTERCEPT_PERCENT", 100)


def test_silk_records_the_request_and_the_counter_ignores_silk_s_own_queries(
    client, silk_records_everything
):
    plain = client.get("/orm/2")
    with override_settings(MIDDLEWARE=STAGING_MIDDLEWARE):
        profiled = Client().get("/orm/2")  # a new client loads the new middleware
    assert plain["X-Query-Count"] == profiled["X-Query-Count"] == "2"
    recorded = Request.objects.get(path="/orm/2")
    assert SQLQuery.objects.filter(request=recorded).count() == 2


def test_sampling_zero_percent_records_nothing(client, monkeypatch):
    monkeypatch.setitem(SilkyConfig().attrs, "SILKY_INTERCEPT_PERCENT", 0)
    with override_settings(MIDDLEWARE=STAGING_MIDDLEWARE):
        Client().get("/queries/1")
    assert not Request.objects.exists()


def test_the_silk_ui_is_for_superusers_only(client):
    # Operators are staff, and silk's pages show every tenant's requests.
    logged_out = client.get("/silk/")
    assert logged_out.status_code == 302
    assert logged_out["Location"].startswith(f"{settings.LOGIN_URL}?next=")
    client.force_login(UserFactory(is_staff=True))
    assert client.get("/silk/").status_code in (302, 403)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert client.get("/silk/").status_code == 200


def test_staging_settings_turn_silk_on_with_sampling_and_caps(child_process):
    import sys

    code = (
        "from django.conf import settings;"
        "print(settings.MIDDLEWARE[1:4], settings.SILKY_INTERCEPT_PERCENT,"
        " settings.SILKY_MAX_RECORDED_REQUESTS, settings.PERF['NPLUSONE_MODE'])"
    )
    out = child_process(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={
            "SHELFWISE_ENV": "staging",
            "DJANGO_SETTINGS_MODULE": "shelfwise.settings",
            "PATH": "/usr/bin:/bin",
        },
        cwd=settings.BASE_DIR,
    ).stdout.strip()
    # Silk wraps the query counter (its own queries stay uncounted); only the outage
    # guard, which turns an unreachable database into a 503, sits outside it (and the
    # request id, first of all, checked in tests/test_logs.py).
    assert out == (
        "['shelfwise.http.middleware.DatabaseUnavailableMiddleware',"
        " 'silk.middleware.SilkyMiddleware', 'perf.middleware.QueryCountMiddleware']"
        " 10 10000 log"
    )
