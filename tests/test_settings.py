"""Profiles and required configuration, checked in fresh interpreters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import resolve

ROOT = Path(__file__).resolve().parent.parent
# Slow: every test here but one reads the settings in a fresh interpreter (a child
# process); the guard of tests/harness fails a fast-tier test that starts one.
pytestmark = pytest.mark.slow
PRINT = (
    "from django.conf import settings;"
    "print(settings.SHELFWISE_ENV, settings.DEBUG, settings.DATABASES['default']['ENGINE'],"
    " settings.CONN_MAX_AGE, settings.DATABASES['default']['CONN_HEALTH_CHECKS'],"
    " getattr(settings, 'ATOMIC_REQUESTS', False))"
)


# What `python -c 'import secrets; print(secrets.token_urlsafe(50))'` prints.
GOOD_KEY = "q3Vx8yJ0rW2mZt5nB7cK1dF4gH6jL9pS0uA3eI8oY2wR5tN7vM_k-Lz"
PROD = {
    "SHELFWISE_ENV": "prod",
    "SECRET_KEY": GOOD_KEY,
    "DATABASE_URL": "postgres://u:p@db.internal:5432/shelfwise",
    "ALLOWED_HOSTS": "shelfwise.example",
}
HTTPS = {
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
}


def _settings(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "SHELFWISE_ENV", "SECRET_KEY", "DJANGO_DEBUG"}
        and not k.startswith(("SECURE_", "API_DOCS"))
    }
    clean |= {"DJANGO_SETTINGS_MODULE": "shelfwise.settings", **env}
    return subprocess.run(
        args or [sys.executable, "-c", PRINT],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_dev_is_the_default_profile_on_the_embedded_database():
    result = _settings()
    assert result.stdout.split() == [
        "dev",
        "True",
        "shelfwise.db.embedded",
        "60",
        "True",
        "False",
    ], result.stderr


def test_prod_requires_a_secret_key():
    result = _settings(SHELFWISE_ENV="prod")
    assert result.returncode != 0
    assert "SECRET_KEY must be set when SHELFWISE_ENV=prod" in result.stderr


def test_prod_with_a_secret_key_and_database_url():
    result = _settings(
        SHELFWISE_ENV="prod",
        SECRET_KEY=GOOD_KEY,
        DATABASE_URL="postgres://u:p@db.internal:5432/shelfwise",
    )
    assert result.stdout.split() == [
        "prod",
        "False",
        "django.db.backends.postgresql",
        "60",
        "True",
        "False",
    ], result.stderr


def test_an_unknown_profile_is_refused():
    result = _settings(SHELFWISE_ENV="qa")
    assert result.returncode != 0
    assert "SHELFWISE_ENV='qa'" in result.stderr


def test_a_non_postgres_database_url_is_refused():
    result = _settings(DATABASE_URL="sqlite:///db.sqlite3")
    assert result.returncode != 0
    assert "must point at a PostgreSQL server" in result.stderr


def test_prod_refuses_the_embedded_database():
    result = _settings(SHELFWISE_ENV="prod", SECRET_KEY=GOOD_KEY)
    assert result.returncode != 0
    assert "DATABASE_URL must be set when SHELFWISE_ENV=prod" in result.stderr


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("changeme", "shorter than 50 characters"),
        ("secret", "shorter than 50 characters"),
        ("x" * 60, "fewer than 5 distinct characters"),
        ("." * 3, "shorter than 50 characters"),
        ("django-insecure-" + GOOD_KEY, "looks like a placeholder"),
        ("changeme-" + GOOD_KEY, "looks like a placeholder"),
        ("insecure-dev-only-key-do-not-use-in-production-padded-to-50", "looks like a placeholder"),
    ],
)
def test_prod_refuses_a_short_or_placeholder_secret_key(key, problem):
    result = _settings(**{**PROD, "SECRET_KEY": key})
    assert result.returncode != 0
    assert problem in result.stderr


CHECK_DEPLOY = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
# check --deploy with STATIC_ROOT in a folder that holds collectstatic's manifest
# (shelfwise/checks.py refuses a prod without it).
CHECK_DEPLOY_COLLECTED = [
    sys.executable,
    "-c",
    "import sys; from django.conf import settings; settings.STATIC_ROOT = sys.argv[1];"
    " from django.core.management import execute_from_command_line;"
    " execute_from_command_line(['manage.py', *sys.argv[2:]])",
]


@pytest.mark.slow
def test_check_deploy_is_clean_in_prod_with_the_https_settings(tmp_path):
    (tmp_path / "staticfiles.json").write_text('{"paths": {}, "version": "1.1"}')
    result = _settings(*CHECK_DEPLOY_COLLECTED, str(tmp_path), *CHECK_DEPLOY[2:], **PROD, **HTTPS)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.slow
def test_check_deploy_refuses_prod_without_collected_static_files(tmp_path):
    result = _settings(*CHECK_DEPLOY_COLLECTED, str(tmp_path), *CHECK_DEPLOY[2:], **PROD, **HTTPS)
    assert result.returncode != 0
    assert "shelfwise.E001" in result.stderr
    assert "run `python manage.py collectstatic --no-input`" in result.stderr


@pytest.mark.slow
def test_check_deploy_names_each_missing_https_setting():
    result = _settings(*CHECK_DEPLOY, **PROD)
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008"):  # HSTS, SSL redirect
        assert warning in result.stderr
    result = _settings(*CHECK_DEPLOY, **PROD, **HTTPS, SESSION_COOKIE_SECURE="0")
    assert "security.W012" in result.stderr


DOCS_STATUS = (
    "import django; django.setup(); from django.test import Client;"
    "c = Client(HTTP_HOST='shelfwise.example', **{'wsgi.url_scheme': 'https'});"
    "print([(c.get(p).status_code, c.get(p).json()['error']['code'])"
    " for p in ('/api/docs/', '/api/schema/', '/api/redoc/')])"
)


def test_api_docs_are_a_json_404_in_prod_by_default():
    result = _settings(sys.executable, "-c", DOCS_STATUS, **PROD)
    assert result.stdout.strip() == str([(404, "not_found")] * 3), result.stderr


def test_a_malformed_auth_failure_rate_is_refused():
    result = _settings(API_AUTH_FAILURE_RATE="thirty")
    assert result.returncode != 0
    assert "API_AUTH_FAILURE_RATE='thirty'" in result.stderr


def test_the_login_url_is_a_real_page():
    # /silk/ and any login_required view send logged-out visitors to LOGIN_URL; Django's
    # default (/accounts/login/) is a 404 here.
    assert resolve(settings.LOGIN_URL).url_name == "login"


def test_the_soak_test_s_leak_is_test_only():
    script = "from django.conf import settings; print(settings.MIDDLEWARE[-1])"
    leak = {"SHELFWISE_TEST_LEAK_KB": "64"}
    dev = _settings(sys.executable, "-c", script, **leak)
    assert dev.stdout.strip() == "tests.performance.leak.LeakMiddleware", dev.stderr
    assert _settings(sys.executable, "-c", script).stdout.strip() != dev.stdout.strip()
    prod = _settings(sys.executable, "-c", script, **PROD, **leak)
    assert prod.returncode != 0
    assert "SHELFWISE_TEST_LEAK_KB is a test-only leak; prod refuses it" in prod.stderr
