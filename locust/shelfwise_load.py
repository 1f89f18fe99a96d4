"""What both ShelfWise locustfiles share: the load data file and the sample recorder.

``manage.py loadtest`` writes the data (real tenants, tokens, book ids, search terms; see
``benchmarks/loadtest/data.py``) and passes its path in ``SHELFWISE_LOAD_DATA``.
"""

from __future__ import annotations

import json
import os
import sys
from functools import cache
from pathlib import Path
from typing import Any

# The project root, so that `benchmarks` imports under the plain `locust` command too (locust
# puts only this folder on sys.path). This folder has no __init__.py, so the installed
# locust package still wins over it.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.loadtest import recorder  # noqa: E402

DATA_ENV = "SHELFWISE_LOAD_DATA"

recorder.install()


@cache
def load_data() -> dict[str, Any]:
    path = os.environ.get(DATA_ENV)
    if not path:
        raise RuntimeError(
            f"{DATA_ENV} is not set: write a data file with "
            "`python manage.py loadtest --prepare-only --data-file FILE` and point it there"
        )
    data: dict[str, Any] = json.loads(Path(path).read_text())
    return data


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_code(response: Any) -> str:
    """The code of ShelfWise's error body, or the start of a body of another shape."""
    try:
        return str(response.json()["error"]["code"])
    except Exception:  # not JSON, or not our error shape
        return (response.text or "")[:80]


def check(response: Any, expected: int) -> None:
    """Inside ``catch_response``: anything but the expected status is a failure, with the
    error code of ShelfWise's error body in the message."""
    if response.status_code == expected:
        response.success()
        return
    response.failure(f"{response.status_code} {error_code(response)}".strip())
