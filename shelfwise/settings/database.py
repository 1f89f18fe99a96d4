"""The database: DATABASES (the embedded server unless DATABASE_URL is set), connection
limits, PgBouncer, the read replica."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from shelfwise.settings.env import BASE_DIR, IS_PROD, env_int, env_str

DATABASE_URL = env_str("DATABASE_URL")
EMBEDDED_POSTGRES_ROOT = Path(env_str("SHELFWISE_PGDATA", str(BASE_DIR / ".pgdata")))
CONN_MAX_AGE = env_int("CONN_MAX_AGE", 60)
if IS_PROD and not DATABASE_URL:
    # The embedded server is for development and tests, never a production database.
    raise ImproperlyConfigured("DATABASE_URL must be set when SHELFWISE_ENV=prod")

if DATABASE_URL:
    _default_db = dj_database_url.parse(
        DATABASE_URL, conn_max_age=CONN_MAX_AGE, conn_health_checks=True
    )
    if _default_db["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must point at a PostgreSQL server")
else:
    # Host and port are filled in on first connection, when the server is started.
    _default_db = {
        "ENGINE": "shelfwise.db.embedded",
        "NAME": "shelfwise",
        "USER": "postgres",
        "CONN_MAX_AGE": CONN_MAX_AGE,
        "CONN_HEALTH_CHECKS": True,
    }

# Bounded database work. Each connection starts with these limits as libpq startup
# options (`-c name=value`: no session-level SET, so PgBouncer's transaction pooling can
# pass them on); work that needs longer raises them with SET LOCAL in its transaction
# (the export, below). Management commands (migrate, seed, explain, shell) run without
# limits unless DB_COMMAND_* set them; servers (gunicorn, runserver) use the request
# limits (the test process itself runs without them: shelfwise/settings/test.py). A
# cancelled query or an unreachable database answers 503 (shelfwise/http/errors.py).
IS_MANAGEMENT_COMMAND = (
    Path(sys.argv[0]).name in {"manage.py", "django-admin"}
    and sys.argv[1:2] != ["runserver"]
    and len(sys.argv) > 1
)


def _db_timeouts_ms(prefix: str, statement: int, lock: int, idle: int) -> dict[str, int]:
    return {
        "statement_timeout": env_int(f"{prefix}STATEMENT_TIMEOUT_MS", statement),
        "lock_timeout": env_int(f"{prefix}LOCK_TIMEOUT_MS", lock),
        "idle_in_transaction_session_timeout": env_int(
            f"{prefix}IDLE_IN_TRANSACTION_TIMEOUT_MS", idle
        ),
    }


DB_REQUEST_TIMEOUTS_MS = _db_timeouts_ms("DB_", 5_000, 3_000, 10_000)
DB_COMMAND_TIMEOUTS_MS = _db_timeouts_ms("DB_COMMAND_", 0, 0, 0)
DB_TIMEOUTS_MS = DB_COMMAND_TIMEOUTS_MS if IS_MANAGEMENT_COMMAND else DB_REQUEST_TIMEOUTS_MS
# The export streams from a cursor inside one transaction: each FETCH is a statement,
# and the transaction idles while a slow client reads.
DB_EXPORT_TIMEOUTS_MS = {
    "statement_timeout": env_int("DB_EXPORT_STATEMENT_TIMEOUT_MS", 60_000),
    "idle_in_transaction_session_timeout": env_int(
        "DB_EXPORT_IDLE_IN_TRANSACTION_TIMEOUT_MS", 300_000
    ),
}
# Fail fast when the server is unreachable rather than hang the worker.
DB_CONNECT_TIMEOUT_S = env_int("DB_CONNECT_TIMEOUT_S", 3)
_options = _default_db.setdefault("OPTIONS", {})
_options["connect_timeout"] = DB_CONNECT_TIMEOUT_S
DATABASE_URL_PG_OPTIONS = _options.get("options", "")


def pg_options(timeouts_ms: dict[str, int]) -> str:
    """libpq ``options`` setting the limits; DATABASE_URL's own ?options= come last, so
    they win."""
    limits = (f"-c {name}={ms}" for name, ms in timeouts_ms.items())
    return " ".join([*limits, DATABASE_URL_PG_OPTIONS]).strip()


# DATABASE_POOLER=pgbouncer: DATABASE_URL is a PgBouncer in transaction pooling, which
# hands each transaction to any of its server connections. So: no prepared statements
# (PgBouncer 1.18, Debian 12's, cannot carry them across server connections; Django's
# psycopg backend binds client-side and prepares nothing, and prepare_threshold=None keeps
# it so should server_side_binding ever be switched on), and no libpq `options`
# (PgBouncer refuses that startup parameter): the limits come from the pool's
# connect_query (deploy/pgbouncer/pgbouncer.ini). Nothing else of
# the app holds session state: advisory locks are transaction-scoped
# (pg_*advisory_xact_lock), the export's cursor and its SET LOCAL live inside its
# transaction (a server-side cursor WITHOUT HOLD), and PgBouncer itself re-sends the
# TimeZone Django sets. Migrations and other commands connect to PostgreSQL directly.
DATABASE_POOLER = env_str("DATABASE_POOLER")
if DATABASE_POOLER not in ("", "pgbouncer"):
    raise ImproperlyConfigured(f"DATABASE_POOLER={DATABASE_POOLER!r}: unset or 'pgbouncer'")


def apply_pg_options(options: dict[str, Any], timeouts_ms: dict[str, int]) -> None:
    """The connection's limits as libpq options; behind PgBouncer, its settings instead."""
    if DATABASE_POOLER == "pgbouncer":
        options.pop("options", None)
        options["prepare_threshold"] = None
    else:
        options["options"] = pg_options(timeouts_ms)


apply_pg_options(_options, DB_TIMEOUTS_MS)
DATABASES = {"default": _default_db}

# DATABASE_REPLICA_URL: a streaming replica for the catalog's reads (shelfwise/db/replica.py):
# the routes below read it, except right after their tenant wrote (REPLICA_PIN_SECONDS
# on the primary: read-your-writes) and while it lags more than REPLICA_MAX_LAG_SECONDS
# or does not answer (then the primary serves; /api/v2/ready and a metric show its lag).
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL")
REPLICA_PIN_SECONDS = env_int("REPLICA_PIN_SECONDS", 5)
REPLICA_MAX_LAG_SECONDS = env_int("REPLICA_MAX_LAG_SECONDS", 5)
REPLICA_CHECK_SECONDS = env_int("REPLICA_CHECK_SECONDS", 1)
REPLICA_READ_ROUTES = [
    "GET /api/v2/books",
    "GET /api/v2/books/{book_id}",
    "GET /api/v2/books/search",
    "GET /api/v2/books/export",
    "GET /api/v2/authors",
    "GET /api/v2/authors/{author_id}",
    "GET /api/v2/publishers",
    "GET /api/v2/publishers/{publisher_id}",
]
if DATABASE_REPLICA_URL:
    try:
        _replica_db = dj_database_url.parse(
            DATABASE_REPLICA_URL, conn_max_age=CONN_MAX_AGE, conn_health_checks=True
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_REPLICA_URL: {exc}") from None
    _replica_options = _replica_db.setdefault("OPTIONS", {})
    _replica_options["connect_timeout"] = DB_CONNECT_TIMEOUT_S
    apply_pg_options(_replica_options, DB_TIMEOUTS_MS)
    # Tests read the replica's alias from the primary's database.
    _replica_db["TEST"] = {"MIRROR": "default"}
    DATABASES["replica"] = _replica_db
    DATABASE_ROUTERS = ["shelfwise.db.replica.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
