"""Writes for tenants, users and API tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from perf.locks import takes_locks
from tenants.models import ApiToken, Role, Tenant, User, hash_token

# last_used_at is a hint for operators, not an audit log: one write per token per interval.
LAST_USED_INTERVAL = dt.timedelta(minutes=5)


@takes_locks("tenants_user")
@transaction.atomic
def user_get_or_create(*, tenant: Tenant, username: str, role: Role | None = None) -> User:
    """The tenant's user with this username, created (without a password) if missing;
    ValidationError for a username that the model refuses.

    Usernames are unique per tenant: another tenant's user of the same name is another
    user. A given role is applied to an existing user too; operators are staff (admin access).
    """
    user = User.objects.select_for_update().filter(tenant=tenant, username=username).first()
    if user is None:
        user = User(username=username, tenant=tenant, role=role or Role.MEMBER)
        # The username's own rules (length, characters: no "/", which logins split on).
        User._meta.get_field("username").clean(username, user)
        user.set_unusable_password()
    elif role is not None:
        user.role = role
    user.is_staff = user.role == Role.OPERATOR
    user.save()
    return user


@takes_locks()
def api_token_issue(*, user: User, name: str = "") -> tuple[ApiToken, str]:
    """Create a token for the user; returns it with the raw key, which is never stored."""
    if user.tenant_id is None:
        raise ValueError("API tokens are bound to a tenant; this user has none")
    raw = ApiToken.generate_key()
    token = ApiToken.objects.create(
        tenant_id=user.tenant_id,
        user=user,
        key_hash=hash_token(raw),
        key_prefix=raw[:10],
        name=name,
    )
    return token, raw


@takes_locks()
def api_token_revoke(*, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


@takes_locks()
def api_token_touch(*, token: ApiToken) -> None:
    """Record use at most once per LAST_USED_INTERVAL; the WHERE makes concurrent
    requests agree on a single write."""
    now = timezone.now()
    cutoff = now - LAST_USED_INTERVAL
    if token.last_used_at is not None and token.last_used_at > cutoff:
        return
    ApiToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=cutoff), pk=token.pk
    ).update(last_used_at=now)
    token.last_used_at = now


class AuthFailureCount(NamedTuple):
    failures: int  # in the address's current window, this one included
    seconds_left: float  # until that window ends


# Stale rows of other addresses removed per recorded failure: the table stays about as large
# as the number of addresses failing in one window. SKIP LOCKED: never wait on, or
# deadlock with, another worker doing the same.
_AUTH_FAILURE_PURGE_BATCH = 10

_AUTH_FAILURE_UPSERT = """
WITH purged AS (
    DELETE FROM tenants_authfailure WHERE address IN (
        SELECT address FROM tenants_authfailure
        WHERE window_start <= now() - %(window)s AND address <> %(address)s
        LIMIT %(purge)s FOR UPDATE SKIP LOCKED
    )
)
INSERT INTO tenants_authfailure AS f (address, window_start, failures)
VALUES (%(address)s, now(), 1)
ON CONFLICT (address) DO UPDATE SET
    failures = CASE WHEN f.window_start > now() - %(window)s THEN f.failures + 1 ELSE 1 END,
    window_start = CASE WHEN f.window_start > now() - %(window)s THEN f.window_start
                        ELSE now() END
RETURNING failures, EXTRACT(EPOCH FROM window_start + %(window)s - now())::float
"""


@takes_locks("tenants_authfailure")
def auth_failure_record(*, address: str, window_seconds: int) -> AuthFailureCount:
    """Count one failed authentication from ``address``, atomically across processes.

    A window opens at an address's first failure and lasts ``window_seconds``; a failure
    after it opens the next. One statement, so concurrent workers serialize on the row
    (none reads a count that another is about to replace), on the database's clock.
    """
    params: dict[str, Any] = {
        "address": address,
        "window": dt.timedelta(seconds=window_seconds),
        "purge": _AUTH_FAILURE_PURGE_BATCH,
    }
    with connection.cursor() as cursor:
        cursor.execute(_AUTH_FAILURE_UPSERT, params)
        failures, seconds_left = cursor.fetchone()
    return AuthFailureCount(failures, seconds_left)
