"""Failed API authentications, limited per client address (``API_AUTH_FAILURE_RATE``).

The count lives in PostgreSQL (``AuthFailure``), so every worker and node shares it. Only
failures write it. A successful lookup reads it inside the token query itself
(``lockout_seconds``), so success costs no extra query, and an address past the limit is
refused even with a valid token: guessing cannot go on at full speed until a hit.
``tenants.authentication`` records the failures (``services.auth_failure_record``).
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import DurationField, ExpressionWrapper, F, Subquery
from django.db.models.functions import Now
from django.http import HttpRequest

from tenants.models import AuthFailure

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


def lockout_seconds(address: str) -> Subquery:
    """An annotation: seconds until ``address`` may try again, NULL when it may now."""
    rate = failure_rate()
    window = dt.timedelta(seconds=rate.window_seconds)
    left = ExpressionWrapper(F("window_start") + window - Now(), output_field=DurationField())
    locked = AuthFailure.objects.filter(
        address=address, window_start__gt=Now() - window, failures__gte=rate.limit
    )
    return Subquery(locked.annotate(left=left).values("left")[:1], output_field=DurationField())
