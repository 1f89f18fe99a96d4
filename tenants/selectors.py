"""Reads for tenants, users and API tokens."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Model
from django.db.models.fetch_modes import FetchMode

from perf.fetch import bundle_fetch_mode
from tenants.models import ApiToken, Tenant, User, hash_token
from tenants.throttling import LOCKOUT_LEFT_SQL, lockout_params

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


# Written by hand: it runs on every API request, and composing it through the ORM
# (select_related, only, an annotated subquery, five filters) cost more Python than the
# rest of a book detail request (figures: docs/performance.md, "Levers, second set: where
# the remaining Python went").
_TOKEN_SQL = f"""
SELECT t.id, t.tenant_id, t.user_id, t.last_used_at, u.role, {LOCKOUT_LEFT_SQL}
FROM tenants_apitoken t
JOIN tenants_user u ON u.id = t.user_id
JOIN tenants_tenant n ON n.id = t.tenant_id
WHERE t.key_hash = %(hash)s AND t.revoked_at IS NULL
  AND u.tenant_id = t.tenant_id AND u.is_active AND n.is_active
"""  # noqa: S608 - constant fragments; every value is a parameter


@cache
def _field_order(model: type[Model], loaded: frozenset[str]) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname in loaded)


def _loaded[M: Model](model: type[M], values: dict[str, Any], mode: FetchMode) -> M:
    """An instance as the ORM loads one with ``only()``: these fields set, the others
    deferred (``Model.from_db`` takes the values in the model's field order, found once
    per model and field set: this runs on every request)."""
    names = _field_order(model, frozenset(values))
    return model.from_db(connection.alias, names, [values[n] for n in names], fetch_mode=mode)


def api_token_get_active(*, raw_key: str, client_address: str) -> ApiToken | None:
    """The live token for this raw key, with its user and tenant, in one query.

    Unknown, revoked, or belonging to an inactive user or tenant: None. This is the one
    unscoped read in the API: the token is what decides the tenant. The same query reads
    the client address's lockout (``lockout_left``: a timedelta, or None).

    The instances hold only what authentication and permissions read
    (API_TOKEN_AUTH_FIELDS); anything else is deferred, and touching it is a bug the
    profile's fetch mode reports (FETCH_RAISE in dev and tests).
    """
    params = {"hash": hash_token(raw_key), **lockout_params(client_address)}
    with connection.cursor() as cursor:
        cursor.execute(_TOKEN_SQL, params)
        row = cursor.fetchone()
    if row is None:
        return None
    token_id, tenant_id, user_id, last_used_at, role, lockout_left = row
    mode = bundle_fetch_mode()
    token = _loaded(
        ApiToken,
        {"id": token_id, "tenant_id": tenant_id, "user_id": user_id, "last_used_at": last_used_at},
        mode,
    )
    user = {"id": user_id, "tenant_id": tenant_id, "role": role, "is_active": True}
    token.user = _loaded(User, user, mode)
    token.tenant = _loaded(Tenant, {"id": tenant_id, "is_active": True}, mode)
    token.lockout_left = lockout_left  # type: ignore[attr-defined]
    return token
