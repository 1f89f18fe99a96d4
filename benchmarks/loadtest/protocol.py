"""What the locust side (``recorder``) and the Django side share: names, and reading the
figures a response carries.

Kept apart so that the Django side never imports locust: importing locust monkey-patches
the standard library for gevent, which breaks Django's thread-bound connections.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

SAMPLES_ENV = "LOADTEST_SAMPLES"  # where the recorder writes the raw samples
PROGRESS_ENV = "LOADTEST_PROGRESS"  # seconds between progress lines; unset: none
QUERY_HEADER = "X-Query-Count"
APP_CPU_HEADER = "X-App-CPU-Ms"
# Rows are (start, ms, queries, ok) or, with the app CPU figure, (..., ok, app CPU ms):
# both read as version 1.
SAMPLES_VERSION = 1


def response_figures(headers: Mapping[str, str]) -> tuple[int | None, float | None]:
    """A response's query count and app CPU ms, each None without its header (the prod
    profile sends neither)."""
    raw = headers.get(QUERY_HEADER)
    queries = int(raw) if raw is not None and str(raw).isdigit() else None
    raw = headers.get(APP_CPU_HEADER)
    try:
        cpu_ms = float(raw) if raw is not None else None
    except ValueError:
        cpu_ms = None
    if cpu_ms is not None and not math.isfinite(cpu_ms):
        cpu_ms = None
    return queries, cpu_ms
