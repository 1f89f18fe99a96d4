"""The application: apps, middleware, templates, static files, i18n, the API (DRF,
drf-spectacular), shared caches, the book-metadata service."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from shelfwise.settings.database import DATABASE_REPLICA_URL
from shelfwise.settings.env import BASE_DIR, IS_DEV, IS_PROD, env_bool, env_int, env_str
from shelfwise.settings.observability import SILK_ENABLED

DEBUG = env_bool("DJANGO_DEBUG", IS_DEV)

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

# QueryCountMiddleware comes first (after silk's) so that it counts authentication's
# queries and none of silk's bookkeeping, which silk does outside it.
MIDDLEWARE = [
    # First: every log line of the request, a 503 included, carries its id.
    "shelfwise.serving.logs.RequestIdMiddleware",
    # Outermost after it: a database failure anywhere below is a 503 JSON (http/errors.py).
    "shelfwise.http.middleware.DatabaseUnavailableMiddleware",
    *(["silk.middleware.SilkyMiddleware"] if SILK_ENABLED else []),
    "perf.middleware.QueryCountMiddleware",
    # Marks the catalog's reads for the replica; pins a tenant to the primary after writes.
    *(["shelfwise.db.replica.ReplicaMiddleware"] if DATABASE_REPLICA_URL else []),
    "shelfwise.http.middleware.RequireContentLengthMiddleware",
    "shelfwise.http.middleware.RejectNulBytesMiddleware",
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

# The soak test's proof that its detector fails a leak (tests/performance/test_soak.py).
# Set, every request keeps this many KB in a module-level list for the life of the worker.
# It stays in these settings, not in test.py: the soak test's gunicorn runs the real
# settings. The middleware lives under tests/, which the production image leaves out, and
# prod refuses the variable.
TEST_LEAK_KB_PER_REQUEST = env_int("SHELFWISE_TEST_LEAK_KB", 0)
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
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2 * 1024 * 1024)

# State shared by every process and node: the API throttle's counters and the tenant tier
# cache (catalog/tiers.py). REDIS_URL (redis://host:6379/0) puts it in Redis, shared;
# unset, each process keeps its own in memory, so with several workers the effective
# rate is workers x the configured rate. Short socket timeouts: a slow or dead Redis
# costs a request at most that long, and the throttle then lets it through
# (shelfwise/http/throttling.py) rather than fail the API.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "shelfwise"),
            "OPTIONS": {
                "socket_connect_timeout": env_int("REDIS_CONNECT_TIMEOUT_MS", 200) / 1000,
                "socket_timeout": env_int("REDIS_TIMEOUT_MS", 200) / 1000,
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

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["drf_orjson_renderer.renderers.ORJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["shelfwise.http.parsers.BoundedORJSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.IsTenantMember"],
    "DEFAULT_PAGINATION_CLASS": "shelfwise.http.pagination.PagePagination",
    "DEFAULT_FILTER_BACKENDS": ["shelfwise.http.filters.FilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["shelfwise.http.throttling.TenantUserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"tenant_user": env_str("API_THROTTLE_RATE", "6000/min")},
    "DEFAULT_SCHEMA_CLASS": "shelfwise.http.schema.AutoSchema",
    "DEFAULT_METADATA_CLASS": "shelfwise.http.metadata.EndpointMetadata",
    "EXCEPTION_HANDLER": "shelfwise.http.errors.exception_handler",
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
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", not IS_PROD)

# The export's body goes out a piece at a time (500 lines); under gunicorn each piece must
# reach the client's socket within this many seconds, or the connection is closed (the body
# then lacks its completeness trailer). Frees the thread of a client that stopped reading.
EXPORT_SEND_TIMEOUT = env_int("EXPORT_SEND_TIMEOUT", 30)

# --- The book-metadata service -----------------------------------------------------------

# The book-metadata service (Open Library's shape: GET {URL}/isbn/{isbn}.json) that fills a
# book's cover, page count and subjects (catalog.metadata). Empty URL: enrichment is off
# (the default, and the demo's); a request asking for it gets a report that says so.
# Times in milliseconds. One pooled client per process: CONCURRENCY calls at a time over
# at most MAX_CONNECTIONS kept-alive connections; RETRIES more attempts, on 5xx and
# timeouts only, after BACKOFF_MS x 2^n with full jitter; after BREAKER_FAILURES failed
# calls in a row, no call for BREAKER_RESET_MS, then one probe. DEADLINE_MS bounds the
# whole enrichment of one import (or one batch of the enrich_books command).
BOOK_METADATA = {
    "URL": env_str("BOOK_METADATA_URL").rstrip("/"),
    "CONNECT_TIMEOUT_MS": env_int("BOOK_METADATA_CONNECT_TIMEOUT_MS", 2000),
    "READ_TIMEOUT_MS": env_int("BOOK_METADATA_READ_TIMEOUT_MS", 3000),
    "RETRIES": env_int("BOOK_METADATA_RETRIES", 2),
    "BACKOFF_MS": env_int("BOOK_METADATA_BACKOFF_MS", 200),
    "MAX_CONNECTIONS": env_int("BOOK_METADATA_MAX_CONNECTIONS", 8),
    "KEEPALIVE_EXPIRY_MS": env_int("BOOK_METADATA_KEEPALIVE_EXPIRY_MS", 30_000),
    "CONCURRENCY": env_int("BOOK_METADATA_CONCURRENCY", 8),
    "DEADLINE_MS": env_int("BOOK_METADATA_DEADLINE_MS", 10_000),
    "BREAKER_FAILURES": env_int("BOOK_METADATA_BREAKER_FAILURES", 5),
    "BREAKER_RESET_MS": env_int("BOOK_METADATA_BREAKER_RESET_MS", 30_000),
    "COVER_URL": env_str(
        "BOOK_METADATA_COVER_URL", "https://covers.openlibrary.org/b/id/{cover_id}-L.jpg"
    ),
}
