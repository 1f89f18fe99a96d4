"""Failed bearer authentications are limited per client address, in PostgreSQL."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time

import pytest
from django.db import transaction
from django.test import override_settings

from tenants.models import AuthFailure
from tenants.tests.api_client import client_for, error_code
from tests.factories import UserFactory
from tests.harness.postgres import other_sessions

pytestmark = pytest.mark.django_db

PROBE = "/api/v2/authors"
LIMIT = 5
# An hour-long window: a test's handful of requests never straddles two windows.
RATE = override_settings(API_AUTH_FAILURE_RATE=f"{LIMIT}/hour")
ATTACKER = "192.0.2.10"  # documentation range (RFC 5737): only a REMOTE_ADDR string here
NEIGHBOUR = "192.0.2.20"


def _guess(client, address: str = ATTACKER):
    return client.get(PROBE, headers={"Authorization": "Bearer sw_guess"}, REMOTE_ADDR=address)


@RATE
def test_failures_past_the_limit_are_429_with_retry_after_and_the_error_shape(client):
    assert [_guess(client).status_code for _ in range(LIMIT)] == [401] * LIMIT
    response = _guess(client)
    assert response.status_code == 429
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}
    assert error_code(response) == "auth_failures_throttled"
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= 3600
    assert body["error"]["details"]["retry_after"] == pytest.approx(retry_after, abs=1)


@RATE
def test_a_throttled_address_is_refused_even_with_a_valid_token(client, tenant):
    user = UserFactory(tenant=tenant)
    valid = client_for(user)
    for _ in range(LIMIT):
        _guess(client)
    # Guessing must not go on: a right guess from that address is refused as well ...
    assert valid.get(PROBE, REMOTE_ADDR=ATTACKER).status_code == 429
    # ... while other addresses are untouched, failures and successes alike.
    assert valid.get(PROBE, REMOTE_ADDR=NEIGHBOUR).status_code == 200
    assert _guess(client, NEIGHBOUR).status_code == 401


@RATE
def test_the_address_is_free_again_when_its_window_has_passed(client, member):
    for _ in range(LIMIT + 1):
        _guess(client)
    assert member.get(PROBE, REMOTE_ADDR=ATTACKER).status_code == 429
    AuthFailure.objects.filter(address=ATTACKER).update(
        window_start=AuthFailure.objects.get(address=ATTACKER).window_start - dt.timedelta(hours=1)
    )
    assert member.get(PROBE, REMOTE_ADDR=ATTACKER).status_code == 200
    assert _guess(client).status_code == 401
    assert AuthFailure.objects.get(address=ATTACKER).failures == 1


@RATE
@pytest.mark.parametrize("authorization", ["Bearer a b", "Bearer", "Bearer t\u00f6ken"])
def test_malformed_headers_count_as_failures(client, authorization):
    for _ in range(LIMIT):
        client.get(PROBE, headers={"Authorization": authorization}, REMOTE_ADDR=ATTACKER)
    assert _guess(client).status_code == 429


def test_requests_without_bearer_credentials_and_successes_write_nothing(client, member):
    assert client.get(PROBE).status_code == 401  # no credentials: not a guess
    assert client.get(PROBE, headers={"Authorization": "Basic dTpw"}).status_code == 401
    assert member.get(PROBE).status_code == 200
    assert not AuthFailure.objects.exists()


@override_settings(API_TRUSTED_PROXIES=["127.0.0.1"])
@RATE
def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(client):
    for _ in range(LIMIT):
        client.get(
            PROBE,
            headers={"Authorization": "Bearer sw_guess", "X-Forwarded-For": f"6.6.6.6, {ATTACKER}"},
            REMOTE_ADDR="127.0.0.1",
        )
    # The proxy's own address and the spoofable left-most entry are not the client.
    assert set(AuthFailure.objects.values_list("address", flat=True)) == {ATTACKER}


# --- The counter is atomic across processes -----------------------------------------------

RECORD_IN_ANOTHER_PROCESS = """
import django; django.setup()
from tenants.services import auth_failure_record
print(auth_failure_record(address={address!r}, window_seconds=3600).failures)
"""


def _another_session_waits_on_a_lock() -> bool:
    """Some other connection to this (the test) database is blocked on a row lock."""
    return other_sessions("wait_event_type = 'Lock'") > 0


@pytest.mark.slow
@pytest.mark.allow_repeats("polls pg_stat_activity until process B waits")
@pytest.mark.django_db(transaction=True)
def test_two_processes_never_both_read_the_same_count():
    """Process A increments inside an open transaction and holds it; process B increments
    meanwhile. A read-then-write counter lets B read A's uncommitted-away value and write
    the same count; the atomic upsert makes B wait for A and count on top of it. The
    interleaving is forced, not left to the scheduler: B is seen blocked before A commits."""
    import os

    from shelfwise.db.urls import current_database_url
    from tenants.services import auth_failure_record

    env = {
        **os.environ,
        "DATABASE_URL": current_database_url(),
        "DJANGO_SETTINGS_MODULE": "shelfwise.settings",
    }
    with transaction.atomic():
        assert auth_failure_record(address=ATTACKER, window_seconds=3600).failures == 1
        other = subprocess.Popen(
            [sys.executable, "-c", RECORD_IN_ANOTHER_PROCESS.format(address=ATTACKER)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while not _another_session_waits_on_a_lock():
            assert other.poll() is None, other.communicate()
            assert time.monotonic() < deadline, "process B never reached the counter row"
            time.sleep(0.05)
    out, err = other.communicate(timeout=60)
    assert other.returncode == 0, err
    assert out.strip() == "2"
    assert AuthFailure.objects.get(address=ATTACKER).failures == 2
    with transaction.atomic():
        assert auth_failure_record(address=ATTACKER, window_seconds=3600).failures == 3
