"""Security: the secret key, hosts, cookies, HTTPS, proxies, the API's and the admin's
login throttles."""

from __future__ import annotations

import datetime as dt
import re

from django.core.exceptions import ImproperlyConfigured

from shelfwise.settings.env import IS_PROD, env_bool, env_int, env_list, env_str

DEV_SECRET_KEY = "insecure-dev-only-key-do-not-use-in-production"  # noqa: S105
# Words of keys copied from examples and generators' defaults, refused in prod.
PLACEHOLDER_KEY_WORDS = ("insecure", "changeme", "change-me", "change_me", "secret", "example")


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` is unfit for production (Django's own W009 test, plus placeholders)."""
    if len(key) < 50:
        return "is shorter than 50 characters"
    if len(set(key)) < 5:
        return "has fewer than 5 distinct characters"
    if any(word in key.lower() for word in PLACEHOLDER_KEY_WORDS):
        return "looks like a placeholder"
    return None


SECRET_KEY = env_str("SECRET_KEY")
if IS_PROD:
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when SHELFWISE_ENV=prod")
    if problem := secret_key_problem(SECRET_KEY):
        raise ImproperlyConfigured(
            f"SECRET_KEY {problem}; generate one with: python -c "
            "'import secrets; print(secrets.token_urlsafe(50))'"
        )
SECRET_KEY = SECRET_KEY or DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if IS_PROD else ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- Login throttles ---------------------------------------------------------------------

# Failed bearer authentications per client address (tenants/throttling.py), counted in
# PostgreSQL so that every worker shares them; past the limit the address gets 429.
API_AUTH_FAILURE_RATE = env_str("API_AUTH_FAILURE_RATE", "30/min")
if not re.fullmatch(r"[1-9][0-9]*/[smhd][a-z]*", API_AUTH_FAILURE_RATE):
    raise ImproperlyConfigured(f"API_AUTH_FAILURE_RATE={API_AUTH_FAILURE_RATE!r}; e.g. 30/min")
# Proxies whose X-Forwarded-For names the client (exact addresses); else REMOTE_ADDR.
API_TRUSTED_PROXIES = env_list("API_TRUSTED_PROXIES", [])

# Admin logins (django-axes): attempts are stored in the database, shared by all workers.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
# Locked by address (password spraying) and by username (one account from many addresses).
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "tenants.throttling.client_address"

# --- Security in production ------------------------------------------------------------

# `manage.py check --deploy` runs clean in prod with these set (README).
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", IS_PROD)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", IS_PROD)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Load balancers probe over plain HTTP: liveness and readiness are never redirected.
SECURE_REDIRECT_EXEMPT = [r"^api/v2/health$", r"^api/v2/ready$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Opt-in, and only behind a proxy that sets the header itself (else clients could spoof
# HTTPS): the header's name, e.g. X-Forwarded-Proto, whose value "https" means HTTPS.
_proxy_ssl_header = env_str("SECURE_PROXY_SSL_HEADER")
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
