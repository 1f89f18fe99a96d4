"""Real-process test harnesses, in one place, and the rule that keeps the fast tier fast.

Every fixture here that starts a real process (a server, a PostgreSQL, a one-shot child
interpreter) is declared with :func:`slow_fixture`: a test that uses it, directly or
through another fixture, is marked ``slow`` at collection (``tests.harness.guard``), so a
new test inherits the mark by asking for the fixture. The guard in the same plugin fails
a test not marked ``slow`` that starts a process anyway.

Which harness is slow, and why:

- ``embedded_pg_root`` (tests.harness.postgres): the test starts its own embedded
  PostgreSQL (initdb and pg_ctl): slow.
- ``migrated_cluster`` (tests.harness.postgres): a primary and a streaming replica,
  migrated by ``manage.py`` in a child process: slow.
- ``server_process`` (tests.harness.servers): gunicorn, PgBouncer, HAProxy, Redis or any
  server with a health URL, stopped at teardown: slow.
- ``child_process`` (tests.harness.servers): a one-shot child (``python -c``,
  ``manage.py check``, promtool): slow, it boots an interpreter or a tool.
- ``metadata_server`` / ``book_metadata`` (tests.harness.metadata): NOT slow. The
  book-metadata service is a ``ThreadingHTTPServer`` on a thread of the test process; it
  starts in milliseconds and no process is made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

# Fixture names whose tests are marked slow; filled by slow_fixture.
SLOW_FIXTURES: set[str] = set()


def slow_fixture(function: Callable[..., Any] | None = None, **fixture_kwargs: Any) -> Any:
    """``pytest.fixture`` that also marks every test using it ``slow``."""

    def declare(func: Callable[..., Any]) -> Any:
        SLOW_FIXTURES.add(fixture_kwargs.get("name", func.__name__))
        return pytest.fixture(**fixture_kwargs)(func)

    return declare(function) if function is not None else declare
