"""The environment, read here and nowhere else: typed readers and the profile flags.

SHELFWISE_ENV selects a profile: ``dev`` (default), ``staging`` or ``prod``. The other
settings modules read their variables through these readers, so that a malformed value
fails at startup with the variable's name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

PROFILES = ("dev", "staging", "prod")


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if not raw:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


def environ() -> Mapping[str, str]:
    """The whole environment, read-only, for a reader that follows a standard's own
    variables (OpenTelemetry's: observability.tracing_config)."""
    return os.environ


SHELFWISE_ENV = env_str("SHELFWISE_ENV", "dev")
if SHELFWISE_ENV not in PROFILES:
    raise ImproperlyConfigured(
        f"SHELFWISE_ENV={SHELFWISE_ENV!r}; expected one of {', '.join(PROFILES)}"
    )
IS_DEV = SHELFWISE_ENV == "dev"
IS_PROD = SHELFWISE_ENV == "prod"
