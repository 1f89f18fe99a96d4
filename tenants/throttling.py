"""Failed API authentications, limited per client address (``API_AUTH_FAILURE_RATE``).

The count lives in PostgreSQL (``AuthFailure``), so every worker and node shares it. Only
failures write it. A successful lookup reads it inside the token query itself
(``LOCKOUT_LEFT_SQL``), so success costs no extra query, and an address past the limit is
refused even with a valid token: guessing cannot go on at full speed until a hit.
``tenants.authentication`` records the failures (``services.auth_failure_record``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class FailureRate(NamedTuple):
    limit: int
    window_seconds: int


def failure_rate() -> FailureRate:
    """``API_AUTH_FAILURE_RATE`` as ``<count>/<s|min|hour|day>`` (DRF's rate format)."""
    raw = settings.API_AUTH_FAILURE_RATE
    count, _, period = raw.partition("/")
    if not count.isdigit() or int(count) < 1 or period[:1] not in PERIOD_SECONDS:
        raise ImproperlyConfigured(f"API_AUTH_FAILURE_RATE={raw!r}; expected e.g. 30/min")
    return FailureRate(int(count), PERIOD_SECONDS[period[0]])


def client_address(request: HttpRequest) -> str:
    """REMOTE_ADDR, or behind proxies listed in API_TRUSTED_PROXIES the right-most
    X-Forwarded-For entry that is not one of them (entries left of it are the client's
    own, so spoofable). django-axes uses it too (AXES_CLIENT_IP_CALLABLE)."""
    remote = str(request.META.get("REMOTE_ADDR", ""))
    trusted = settings.API_TRUSTED_PROXIES
    if remote not in trusted:
        return remote
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")
    for hop in reversed([h.strip() for h in forwarded if h.strip()]):
        if hop not in trusted:
            return hop[:64]
    return remote


# Seconds until an address may try again (an interval), NULL when it may now: a scalar
# subquery that the token lookup (tenants.selectors) embeds, with lockout_params().
LOCKOUT_LEFT_SQL = """(SELECT f.window_start + %(lockout_window)s - now()
 FROM tenants_authfailure f
 WHERE f.address = %(lockout_address)s AND f.window_start > now() - %(lockout_window)s
   AND f.failures >= %(lockout_limit)s LIMIT 1)"""


def lockout_params(address: str) -> dict[str, Any]:
    rate = failure_rate()
    return {
        "lockout_address": address,
        "lockout_window": dt.timedelta(seconds=rate.window_seconds),
        "lockout_limit": rate.limit,
    }
