"""Profiles and required configuration, checked in fresh interpreters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRINT = (
    "from django.conf import settings;"
    "print(settings.SHELFWISE_ENV, settings.DEBUG, settings.DATABASES['default']['ENGINE'],"
    " settings.CONN_MAX_AGE, settings.DATABASES['default']['CONN_HEALTH_CHECKS'],"
    " getattr(settings, 'ATOMIC_REQUESTS', False))"
)


def _settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "SHELFWISE_ENV", "SECRET_KEY", "DJANGO_DEBUG"}
    }
    clean |= {"DJANGO_SETTINGS_MODULE": "shelfwise.settings", **env}
    return subprocess.run(
        [sys.executable, "-c", PRINT],
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
        SECRET_KEY="x" * 50,
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
