"""Reads for tenants, users and API tokens."""

from __future__ import annotations

from django.db.models import F

from tenants.models import ApiToken, hash_token
from tenants.throttling import lockout_seconds


def api_token_get_active(*, raw_key: str, client_address: str) -> ApiToken | None:
    """The live token for this raw key, with its user and tenant, in one query.

    Unknown, revoked, or belonging to an inactive user or tenant: None. This is the one
    unscoped read in the API: the token is what decides the tenant. The same query reads
    the client address's lockout (``lockout_left``: a timedelta, or None).
    """
    return (
        ApiToken.objects.select_related("user", "tenant")
        .annotate(lockout_left=lockout_seconds(client_address))
        .filter(
            key_hash=hash_token(raw_key),
            revoked_at__isnull=True,
            user__tenant_id=F("tenant_id"),
            user__is_active=True,
            tenant__is_active=True,
        )
        .first()
    )
