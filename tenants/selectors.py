"""Reads for tenants, users and API tokens."""

from __future__ import annotations

from django.db.models import F

from perf.fetch import bundle_fetch_mode
from tenants.models import ApiToken, hash_token
from tenants.throttling import lockout_seconds

# What a request needs of its token, user and tenant, and nothing else: the tenant
# scoping (ids), the roles (permissions), the last-used stamp (api_token_touch). Anything
# else is a bug the profile's fetch mode reports (FETCH_RAISE in dev and tests).
API_TOKEN_AUTH_FIELDS = (
    "id",
    "tenant_id",
    "user_id",
    "last_used_at",
    "user__id",
    "user__tenant_id",
    "user__role",
    "user__is_active",
    "tenant__id",
    "tenant__is_active",
)


def api_token_get_active(*, raw_key: str, client_address: str) -> ApiToken | None:
    """The live token for this raw key, with its user and tenant, in one query.

    Unknown, revoked, or belonging to an inactive user or tenant: None. This is the one
    unscoped read in the API: the token is what decides the tenant. The same query reads
    the client address's lockout (``lockout_left``: a timedelta, or None).

    It runs on every request, so it reads only the columns authentication uses and has no
    ORDER BY (``key_hash`` is unique: a slice, not ``.first()``, which would sort).
    """
    rows = (
        ApiToken.objects.select_related("user", "tenant")
        .only(*API_TOKEN_AUTH_FIELDS)
        .annotate(lockout_left=lockout_seconds(client_address))
        .filter(
            key_hash=hash_token(raw_key),
            revoked_at__isnull=True,
            user__tenant_id=F("tenant_id"),
            user__is_active=True,
            tenant__is_active=True,
        )
        .fetch_mode(bundle_fetch_mode())[:1]
    )
    return next(iter(rows), None)
