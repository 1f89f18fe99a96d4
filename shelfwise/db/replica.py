"""A read replica for the catalog's reads, with read-your-writes (DATABASE_REPLICA_URL).

Which reads: the routes in ``settings.REPLICA_READ_ROUTES`` (the catalog's GETs: pages,
detail, search, export, authors, publishers), by route pattern, so the apps name nothing.
Everything else, and every read inside a transaction (a write's own reads), goes to the
primary. Authentication's token look-up is a raw statement on the primary connection.

Read-your-writes: a successful write (any unsafe method answered below 400) pins its
tenant to the primary for ``REPLICA_PIN_SECONDS``, in the default cache (shared by every
node with REDIS_URL, else per process: then a client balanced onto another node may read
a replica that has not caught up for at most the replica's lag).

Health: the replica's lag (``now() - pg_last_xact_replay_timestamp()``, 0 when it has
replayed everything it received) is checked at most once per ``REPLICA_CHECK_SECONDS``
per process. A replica that does not answer, or lags more than ``REPLICA_MAX_LAG_SECONDS``,
is skipped: its reads go to the primary until a later check finds it healthy again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse

from perf.routes import route_label

REPLICA = "replica"
logger = structlog.get_logger("shelfwise.replica")

# The request whose reads may go to the replica; None outside such requests.
_replica_request: ContextVar[HttpRequest | None] = ContextVar("replica_request", default=None)
# The decision for the current request, made at its first routed read.
_decision: ContextVar[str | None] = ContextVar("replica_decision", default=None)

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class _Health:
    checked_at: float = float("-inf")
    usable: bool = False
    lag_seconds: float | None = None
    error: str | None = None


_health = _Health()


def configured() -> bool:
    return REPLICA in settings.DATABASES


def replica_health(*, force: bool = False) -> _Health:
    """The replica's lag, checked at most once per REPLICA_CHECK_SECONDS."""
    now = time.monotonic()
    if not force and now - _health.checked_at < settings.REPLICA_CHECK_SECONDS:
        return _health
    _health.checked_at = now
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(
                "SELECT CASE WHEN pg_is_in_recovery() THEN COALESCE(EXTRACT(EPOCH FROM "
                "CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN "
                "interval '0' ELSE now() - pg_last_xact_replay_timestamp() END), 0) "
                "ELSE 0 END"
            )
            row = cursor.fetchone()
        _health.lag_seconds = float(row[0]) if row else None
        _health.error = None
    except DatabaseError as exc:
        _health.lag_seconds = None
        _health.error = type(exc).__name__
        with contextlib.suppress(DatabaseError):
            connections[REPLICA].close()
    usable = (
        _health.error is None and (_health.lag_seconds or 0) <= settings.REPLICA_MAX_LAG_SECONDS
    )
    if usable != _health.usable:
        logger.warning(
            "replica_usable" if usable else "replica_skipped",
            lag_seconds=_health.lag_seconds,
            error=_health.error,
        )
    _health.usable = usable
    _observe_lag(_health.lag_seconds)
    return _health


def _observe_lag(lag: float | None) -> None:
    from perf import metrics

    metrics.set_replica_lag(lag)


def _pin_key(tenant_id: Any) -> str:
    return f"replica-pin:{tenant_id}"


def _tenant_id(request: HttpRequest) -> Any:
    user = getattr(request, "user", None)
    return getattr(user, "tenant_id", None)


def _pinned(request: HttpRequest) -> bool:
    tenant_id = _tenant_id(request)
    if tenant_id is None:
        return False
    try:
        return bool(cache.get(_pin_key(tenant_id)))
    except Exception:
        return True


def pin(request: HttpRequest) -> None:
    """Read-your-writes: the request's tenant reads the primary for a while."""
    tenant_id = _tenant_id(request)
    if tenant_id is not None:
        with contextlib.suppress(Exception):
            cache.set(_pin_key(tenant_id), 1, settings.REPLICA_PIN_SECONDS)


def read_database() -> str | None:
    """The alias for a read of the current request: the replica, or None (the primary)."""
    request = _replica_request.get()
    if request is None or connections["default"].in_atomic_block:
        return None
    decision = _decision.get()
    if decision is None:
        use = not _pinned(request) and replica_health().usable
        decision = REPLICA if use else "default"
        _decision.set(decision)
    return decision if decision == REPLICA else None


class ReplicaRouter:
    """DATABASE_ROUTERS when DATABASE_REPLICA_URL is set: the catalog's reads to the
    replica (``read_database``); writes, migrations and relations as one database."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return read_database()

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one database, copied

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == "default"


class ReplicaMiddleware:
    """Marks the requests whose reads may use the replica, and pins a tenant to the
    primary after its writes."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.routes = frozenset(settings.REPLICA_READ_ROUTES)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in _SAFE:
            response = self.get_response(request)
            if response.status_code < 400:
                pin(request)
            return response
        route = route_label(request) if request.resolver_match else None
        if route is None:
            from django.urls import resolve

            with contextlib.suppress(Exception):
                request.resolver_match = resolve(request.path_info)
            route = route_label(request)
        if f"{request.method} {route}" not in self.routes and f"GET {route}" not in self.routes:
            return self.get_response(request)
        token = _replica_request.set(request)
        decided = _decision.set(None)
        try:
            return self.get_response(request)
        finally:
            _decision.reset(decided)
            _replica_request.reset(token)
