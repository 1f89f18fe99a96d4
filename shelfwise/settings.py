"""ShelfWise settings: the environment is read here, once, and nowhere else.

SHELFWISE_ENV selects a profile: ``dev`` (default), ``staging`` or ``prod``.
DATABASE_URL unset means the embedded PostgreSQL server under ``.pgdata/``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dj_database_url
import structlog
from django.core.exceptions import ImproperlyConfigured

from shelfwise.logs import SHARED_PROCESSORS

BASE_DIR = Path(__file__).resolve().parent.parent

PROFILES = ("dev", "staging", "prod")


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")


def _env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if not raw:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


SHELFWISE_ENV = os.environ.get("SHELFWISE_ENV", "dev")
if SHELFWISE_ENV not in PROFILES:
    raise ImproperlyConfigured(
        f"SHELFWISE_ENV={SHELFWISE_ENV!r}; expected one of {', '.join(PROFILES)}"
    )
IS_DEV = SHELFWISE_ENV == "dev"
IS_PROD = SHELFWISE_ENV == "prod"

DEBUG = _env_bool("DJANGO_DEBUG", IS_DEV)

DEV_SECRET_KEY = "insecure-dev-only-key-do-not-use-in-production"  # noqa: S105
# Words of keys copied from examples and generators' defaults, refused in prod.
PLACEHOLDER_KEY_WORDS = ("insecure", "changeme", "change-me", "change_me", "secret", "example")


def _secret_key_problem(key: str) -> str | None:
    """Why ``key`` is unfit for production (Django's own W009 test, plus placeholders)."""
    if len(key) < 50:
        return "is shorter than 50 characters"
    if len(set(key)) < 5:
        return "has fewer than 5 distinct characters"
    if any(word in key.lower() for word in PLACEHOLDER_KEY_WORDS):
        return "looks like a placeholder"
    return None


SECRET_KEY = os.environ.get("SECRET_KEY", "")
if IS_PROD:
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when SHELFWISE_ENV=prod")
    if problem := _secret_key_problem(SECRET_KEY):
        raise ImproperlyConfigured(
            f"SECRET_KEY {problem}; generate one with: python -c "
            "'import secrets; print(secrets.token_urlsafe(50))'"
        )
SECRET_KEY = SECRET_KEY or DEV_SECRET_KEY

ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", [] if IS_PROD else ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", [])

# --- Database --------------------------------------------------------------------------

DATABASE_URL = os.environ.get("DATABASE_URL", "")
EMBEDDED_POSTGRES_ROOT = Path(os.environ.get("SHELFWISE_PGDATA", BASE_DIR / ".pgdata"))
CONN_MAX_AGE = _env_int("CONN_MAX_AGE", 60)
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
# limits (the test process itself runs without them: settings_test.py). A cancelled
# query or an unreachable database answers 503 (errors.py).
IS_MANAGEMENT_COMMAND = (
    Path(sys.argv[0]).name in {"manage.py", "django-admin"}
    and sys.argv[1:2] != ["runserver"]
    and len(sys.argv) > 1
)


def _db_timeouts_ms(prefix: str, statement: int, lock: int, idle: int) -> dict[str, int]:
    return {
        "statement_timeout": _env_int(f"{prefix}STATEMENT_TIMEOUT_MS", statement),
        "lock_timeout": _env_int(f"{prefix}LOCK_TIMEOUT_MS", lock),
        "idle_in_transaction_session_timeout": _env_int(
            f"{prefix}IDLE_IN_TRANSACTION_TIMEOUT_MS", idle
        ),
    }


DB_REQUEST_TIMEOUTS_MS = _db_timeouts_ms("DB_", 5_000, 3_000, 10_000)
DB_COMMAND_TIMEOUTS_MS = _db_timeouts_ms("DB_COMMAND_", 0, 0, 0)
DB_TIMEOUTS_MS = DB_COMMAND_TIMEOUTS_MS if IS_MANAGEMENT_COMMAND else DB_REQUEST_TIMEOUTS_MS
# The export streams from a cursor inside one transaction: each FETCH is a statement,
# and the transaction idles while a slow client reads.
DB_EXPORT_TIMEOUTS_MS = {
    "statement_timeout": _env_int("DB_EXPORT_STATEMENT_TIMEOUT_MS", 60_000),
    "idle_in_transaction_session_timeout": _env_int(
        "DB_EXPORT_IDLE_IN_TRANSACTION_TIMEOUT_MS", 300_000
    ),
}
# Fail fast when the server is unreachable rather than hang the worker.
DB_CONNECT_TIMEOUT_S = _env_int("DB_CONNECT_TIMEOUT_S", 3)
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
DATABASE_POOLER = os.environ.get("DATABASE_POOLER", "")
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
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
REPLICA_PIN_SECONDS = _env_int("REPLICA_PIN_SECONDS", 5)
REPLICA_MAX_LAG_SECONDS = _env_int("REPLICA_MAX_LAG_SECONDS", 5)
REPLICA_CHECK_SECONDS = _env_int("REPLICA_CHECK_SECONDS", 1)
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

# --- Applications ----------------------------------------------------------------------

INSTALLED_APPS = [
    # First: its changepassword and createsuperuser replace django.contrib.auth's (the
    # first app with a command name wins), so that both understand tenant logins.
    "tenants",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "shelfwise",
    "catalog",
    "orders",
    "perf",
    # Installed in every profile so that its tables always exist; it records requests
    # only where its middleware is on (staging).
    "silk",
]

# --- Traces (OpenTelemetry, shelfwise/tracing.py) ----------------------------------------
# Off unless the standard OTEL_* variables ask for traces: OTEL_TRACES_EXPORTER names
# exporters (otlp, console; "none" is off), or an OTLP endpoint is set, or
# OTEL_SDK_DISABLED=false; OTEL_SDK_DISABLED=true always wins. Off, no OpenTelemetry
# module is even imported. On, the SDK reads its other standard variables itself, as its
# docs specify (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_*,
# OTEL_TRACES_SAMPLER, OTEL_BSP_*): they are the SDK's configuration, not ShelfWise's.
TRACE_EXPORTER_NAMES = ("otlp", "console")


def tracing_config(environ: Mapping[str, str]) -> dict[str, Any]:
    disabled = environ.get("OTEL_SDK_DISABLED", "").strip().lower()
    named = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    named = [n for n in named if n]
    exporters = [n for n in named if n != "none"]
    if disabled == "true" or (named and not exporters):
        enabled = False
    else:
        enabled = bool(
            exporters
            or disabled == "false"
            or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        )
    unknown = sorted(set(exporters) - set(TRACE_EXPORTER_NAMES))
    if enabled and unknown:
        raise ImproperlyConfigured(
            f"OTEL_TRACES_EXPORTER: {', '.join(unknown)} is not installed; "
            f"use {', '.join(TRACE_EXPORTER_NAMES)} or none"
        )
    return {
        "ENABLED": enabled,
        # otlp, the spec's default, when the SDK is on and no exporter is named.
        "EXPORTERS": tuple(exporters or ["otlp"]),
        # service.name unless OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) names another.
        "DEFAULT_SERVICE_NAME": "shelfwise",
    }


TRACING = tracing_config(os.environ)

# --- Profiling (perf/) -------------------------------------------------------------------

SILK_ENABLED = _env_bool("SILK_ENABLED", SHELFWISE_ENV == "staging")

PERF = {
    "QUERY_HEADER": _env_bool("PERF_QUERY_HEADER", not IS_PROD),
    "WARN_QUERIES": _env_int("PERF_WARN_QUERIES", 10),
    "ALERT_QUERIES": _env_int("PERF_ALERT_QUERIES", 20),
    "PAGE_QUERIES": _env_int("PERF_PAGE_QUERIES", 50),
    # dev raises at the request that has an N+1; staging and prod log it and count it.
    "NPLUSONE_MODE": os.environ.get("PERF_NPLUSONE_MODE", "raise" if IS_DEV else "log"),
    "NPLUSONE_THRESHOLD": _env_int("PERF_NPLUSONE_THRESHOLD", 5),
    # Lazy loads outside a selector's bundle: fail at the line in dev, batch elsewhere.
    "FETCH_MODE": os.environ.get("PERF_FETCH_MODE", "FETCH_RAISE" if IS_DEV else "FETCH_PEERS"),
    # /metrics: open on loopback in dev and staging; in prod it needs METRICS_TOKEN.
    "METRICS_PUBLIC": _env_bool("METRICS_PUBLIC", not IS_PROD),
    "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", ""),
    "TIER_RESOLVER": "catalog.tiers.request_tier",
    # Traced requests carry perf's route, tier, query count and SQL time (only when on:
    # off, the middleware does not even look for a hook).
    "REQUEST_HOOKS": ["shelfwise.tracing.annotate_request_span"] if TRACING["ENABLED"] else [],
    "METRICS_PREFIX": "shelfwise",
    "PROJECT_ROOTS": [str(BASE_DIR)],
}

# QueryCountMiddleware comes first (after silk's) so that it counts authentication's
# queries and none of silk's bookkeeping, which silk does outside it.
MIDDLEWARE = [
    # First: every log line of the request, a 503 included, carries its id.
    "shelfwise.logs.RequestIdMiddleware",
    # Outermost after it, so that a database failure anywhere below is a 503 JSON (errors.py).
    "shelfwise.middleware.DatabaseUnavailableMiddleware",
    *(["silk.middleware.SilkyMiddleware"] if SILK_ENABLED else []),
    "perf.middleware.QueryCountMiddleware",
    # Marks the catalog's reads for the replica; pins a tenant to the primary after writes.
    *(["shelfwise.db.replica.ReplicaMiddleware"] if DATABASE_REPLICA_URL else []),
    "shelfwise.middleware.RequireContentLengthMiddleware",
    "shelfwise.middleware.RejectNulBytesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The admin's static files, from gunicorn itself (collected in the image; found in
    # the apps in dev).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out admin login into its 429.
    "axes.middleware.AxesMiddleware",
]

# Test-only: the soak test's proof that its detector fails a leak
# (tests/performance/test_soak.py). Set, every request keeps this many KB in a module-level
# list for the life of the worker. The middleware lives under tests/, which the production
# image leaves out, and prod refuses the variable.
TEST_LEAK_KB_PER_REQUEST = _env_int("SHELFWISE_TEST_LEAK_KB", 0)
if TEST_LEAK_KB_PER_REQUEST:
    if IS_PROD:
        raise ImproperlyConfigured("SHELFWISE_TEST_LEAK_KB is a test-only leak; prod refuses it")
    MIDDLEWARE.append("tests.performance.leak.LeakMiddleware")

ROOT_URLCONF = "shelfwise.urls"
WSGI_APPLICATION = "shelfwise.wsgi.application"
AUTH_USER_MODEL = "tenants.User"
# AxesStandaloneBackend first: it refuses a locked-out login before any password check.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "tenants.backends.TenantModelBackend",
]
# Usernames are unique per tenant, not globally (auth.W004 says so): logins name the
# tenant, "<tenant-slug>/<username>", and the user model's natural key resolves them
# (tenants/backends.py).
SILENCED_SYSTEM_CHECKS = ["auth.W004"]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Collected (`collectstatic`, in the Docker image) only for prod.
STATIC_ROOT = BASE_DIR / "staticfiles" if IS_PROD else None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # prod serves hashed, compressed files collected into the image (Dockerfile).
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PROD
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Elsewhere nothing is collected: serve straight from the apps' static folders.
WHITENOISE_USE_FINDERS = not IS_PROD

# --- API ---------------------------------------------------------------------------

# Request bodies above this are refused with 413 (Django forms and the API's JSON parser).
# Sized for a full bulk import (BOOK_BULK_MAX_ROWS rows with long descriptions).
DATA_UPLOAD_MAX_MEMORY_SIZE = _env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2 * 1024 * 1024)

# State shared by every process and node: the API throttle's counters and the tenant tier
# cache (catalog/tiers.py). REDIS_URL (redis://host:6379/0) puts it in Redis, shared;
# unset, each process keeps its own in memory, so with several workers the effective
# rate is workers x the configured rate. Short socket timeouts: a slow or dead Redis
# costs a request at most that long, and the throttle then lets it through
# (shelfwise/throttling.py) rather than fail the API.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "shelfwise"),
            "OPTIONS": {
                "socket_connect_timeout": _env_int("REDIS_CONNECT_TIMEOUT_MS", 200) / 1000,
                "socket_timeout": _env_int("REDIS_TIMEOUT_MS", 200) / 1000,
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "shelfwise",
        }
    }

# Failed bearer authentications per client address (tenants/throttling.py), counted in
# PostgreSQL so that every worker shares them; past the limit the address gets 429.
API_AUTH_FAILURE_RATE = os.environ.get("API_AUTH_FAILURE_RATE", "30/min")
if not re.fullmatch(r"[1-9][0-9]*/[smhd][a-z]*", API_AUTH_FAILURE_RATE):
    raise ImproperlyConfigured(f"API_AUTH_FAILURE_RATE={API_AUTH_FAILURE_RATE!r}; e.g. 30/min")
# Proxies whose X-Forwarded-For names the client (exact addresses); else REMOTE_ADDR.
API_TRUSTED_PROXIES = _env_list("API_TRUSTED_PROXIES", [])

# Admin logins (django-axes): attempts are stored in the database, shared by all workers.
AXES_FAILURE_LIMIT = _env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=_env_int("AXES_COOLOFF_MINUTES", 15))
# Locked by address (password spraying) and by username (one account from many addresses).
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "tenants.throttling.client_address"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["drf_orjson_renderer.renderers.ORJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["shelfwise.parsers.BoundedORJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.IsTenantMember"],
    "DEFAULT_PAGINATION_CLASS": "shelfwise.pagination.PagePagination",
    "DEFAULT_FILTER_BACKENDS": ["shelfwise.filters.FilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["shelfwise.throttling.TenantUserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"tenant_user": os.environ.get("API_THROTTLE_RATE", "6000/min")},
    "DEFAULT_SCHEMA_CLASS": "shelfwise.schema.AutoSchema",
    "DEFAULT_METADATA_CLASS": "shelfwise.metadata.EndpointMetadata",
    "EXCEPTION_HANDLER": "shelfwise.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "ShelfWise API",
    "DESCRIPTION": (
        "Multi-tenant bookstore API. Every request carries `Authorization: Bearer <token>`; "
        "the token alone decides the tenant, and another tenant's ids behave as unknown ids. "
        'Errors share one shape: `{"error": {"code", "message", "details"}}`.'
    ),
    "VERSION": "2.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v2",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"OrderStatusEnum": "orders.models.OrderStatus"},
    # Swagger UI and Redoc from the pinned drf-spectacular-sidecar, served as static files:
    # the docs work offline and load nothing from another host.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# /api/schema/, /api/docs/ and /api/redoc/: off in prod (the JSON 404), on elsewhere.
API_DOCS_PUBLIC = _env_bool("API_DOCS_PUBLIC", not IS_PROD)

# The export's body goes out a piece at a time (500 lines); under gunicorn each piece must
# reach the client's socket within this many seconds, or the connection is closed (the body
# then lacks its completeness trailer). Frees the thread of a client that stopped reading.
EXPORT_SEND_TIMEOUT = _env_int("EXPORT_SEND_TIMEOUT", 30)

# The book-metadata service (Open Library's shape: GET {URL}/isbn/{isbn}.json) that fills a
# book's cover, page count and subjects (catalog.metadata). Empty URL: enrichment is off
# (the default, and the demo's); a request asking for it gets a report that says so.
# Times in milliseconds. One pooled client per process: CONCURRENCY calls at a time over
# at most MAX_CONNECTIONS kept-alive connections; RETRIES more attempts, on 5xx and
# timeouts only, after BACKOFF_MS x 2^n with full jitter; after BREAKER_FAILURES failed
# calls in a row, no call for BREAKER_RESET_MS, then one probe. DEADLINE_MS bounds the
# whole enrichment of one import (or one batch of the enrich_books command).
BOOK_METADATA = {
    "URL": os.environ.get("BOOK_METADATA_URL", "").rstrip("/"),
    "CONNECT_TIMEOUT_MS": _env_int("BOOK_METADATA_CONNECT_TIMEOUT_MS", 2000),
    "READ_TIMEOUT_MS": _env_int("BOOK_METADATA_READ_TIMEOUT_MS", 3000),
    "RETRIES": _env_int("BOOK_METADATA_RETRIES", 2),
    "BACKOFF_MS": _env_int("BOOK_METADATA_BACKOFF_MS", 200),
    "MAX_CONNECTIONS": _env_int("BOOK_METADATA_MAX_CONNECTIONS", 8),
    "KEEPALIVE_EXPIRY_MS": _env_int("BOOK_METADATA_KEEPALIVE_EXPIRY_MS", 30_000),
    "CONCURRENCY": _env_int("BOOK_METADATA_CONCURRENCY", 8),
    "DEADLINE_MS": _env_int("BOOK_METADATA_DEADLINE_MS", 10_000),
    "BREAKER_FAILURES": _env_int("BOOK_METADATA_BREAKER_FAILURES", 5),
    "BREAKER_RESET_MS": _env_int("BOOK_METADATA_BREAKER_RESET_MS", 30_000),
    "COVER_URL": os.environ.get(
        "BOOK_METADATA_COVER_URL", "https://covers.openlibrary.org/b/id/{cover_id}-L.jpg"
    ),
}

# --- Security in production ------------------------------------------------------------

# `manage.py check --deploy` runs clean in prod with these set (README).
SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", IS_PROD)
CSRF_COOKIE_SECURE = _env_bool("CSRF_COOKIE_SECURE", IS_PROD)
SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", False)
# Load balancers probe over plain HTTP: liveness and readiness are never redirected.
SECURE_REDIRECT_EXEMPT = [r"^api/v2/health$", r"^api/v2/ready$"]
SECURE_HSTS_SECONDS = _env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", False)
# Opt-in, and only behind a proxy that sets the header itself (else clients could spoof
# HTTPS): the header's name, e.g. X-Forwarded-Proto, whose value "https" means HTTPS.
_proxy_ssl_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "")
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")

# --- Logging (structlog over the standard library) -------------------------------------

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
LOG_JSON = _env_bool("LOG_JSON", not IS_DEV)

structlog.configure(
    processors=[*SHARED_PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    cache_logger_on_first_use=True,
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # The same lines as gunicorn's (shelfwise/logs.py): JSON unless LOG_JSON=0.
    "formatters": {"structured": {"()": "shelfwise.logs.formatter", "json": LOG_JSON}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "embedded_postgres": {"level": "WARNING"},
        # One INFO line per request: a thousand per enriched import. Failures are
        # reported by the enrichment itself.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# --- django-silk (staging) ---------------------------------------------------------------

# Django's login page is the admin's: /silk/ (and anything behind login_required) sends
# a logged-out visitor there, not to the default /accounts/login/, which does not exist.
LOGIN_URL = "/admin/login/"
SILKY_AUTHENTICATION = True  # /silk/ needs a logged-in user ...
SILKY_AUTHORISATION = True  # ... allowed by SILKY_PERMISSIONS:
# superusers only: operators are staff, and silk's pages hold every tenant's requests.
SILKY_PERMISSIONS = lambda user: user.is_superuser  # noqa: E731
SILKY_INTERCEPT_PERCENT = _env_int("SILKY_INTERCEPT_PERCENT", 10)
SILKY_MAX_RECORDED_REQUESTS = _env_int("SILKY_MAX_RECORDED_REQUESTS", 10_000)
SILKY_MAX_RECORDED_REQUESTS_CHECK_PERCENT = 10
SILKY_MAX_REQUEST_BODY_SIZE = 16 * 1024
SILKY_MAX_RESPONSE_BODY_SIZE = 16 * 1024
SILKY_PYTHON_PROFILER = _env_bool("SILKY_PYTHON_PROFILER", False)
SILKY_META = True
# Liveness must never touch the database, and probes and scrapes are noise.
SILKY_IGNORE_PATHS = ["/api/v2/health", "/api/v2/ready", "/metrics"]
