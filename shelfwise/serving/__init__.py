"""The one way ShelfWise's commands start gunicorn: the project's config file, a bind, and
the environment each caller varies.

``demo``, ``loadtest``, ``silk_overhead`` and ``bench --race`` all serve through here, so a
new flag or variable is decided once. perf's ``ServerProcess`` and the race's
``Contender`` (benchmarks/race/engine.py) take the argv and environment built here: perf
never imports ShelfWise.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

GUNICORN_CONFIG = Path(__file__).resolve().parent / "gunicorn.conf.py"
HEALTH_PATH = "/api/v2/health"


class GunicornCommand(NamedTuple):
    argv: list[str]
    env: dict[str, str]


def gunicorn_command(
    *,
    bind: str,
    workers: int | None = None,
    app: str | None = None,
    profile: str | None = None,
    database_url: str | None = None,
    access_log: str | None = None,
    log_level: str | None = None,
    env: Mapping[str, str] | None = None,
    env_defaults: Mapping[str, str] | None = None,
    env_unset: Iterable[str] = (),
    base_env: Mapping[str, str] | None = None,
) -> GunicornCommand:
    """gunicorn under this interpreter with ``shelfwise/serving/gunicorn.conf.py``.

    ``bind`` is passed as given (``bench --race`` hands the engine a ``{bind}`` template);
    ``workers`` None keeps the config's count; ``app`` None keeps its WSGI app (ShelfWise).
    The environment is ``base_env`` (this process's by default) with ``env_defaults`` for
    variables it lacks, then the named settings and ``env`` forced over it, then
    ``env_unset`` removed: ``profile`` is SHELFWISE_ENV, ``access_log`` GUNICORN_ACCESS_LOG
    ("" turns it off, "-" is stdout), ``log_level`` GUNICORN_LOG_LEVEL.
    """
    argv = [sys.executable, "-m", "gunicorn", "--config", str(GUNICORN_CONFIG), "--bind", bind]
    if workers:
        argv += ["--workers", str(workers)]
    if app is not None:
        argv.append(app)

    environment = dict(os.environ if base_env is None else base_env)
    for name, value in (env_defaults or {}).items():
        environment.setdefault(name, value)
    named = {
        "SHELFWISE_ENV": profile,
        "DATABASE_URL": database_url,
        "GUNICORN_ACCESS_LOG": access_log,
        "GUNICORN_LOG_LEVEL": log_level,
    }
    environment |= {name: value for name, value in named.items() if value is not None}
    environment |= dict(env or {})
    for name in env_unset:
        environment.pop(name, None)
    return GunicornCommand(argv, environment)


def health_url(port: int, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{port}{HEALTH_PATH}"
