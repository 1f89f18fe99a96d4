"""pytest integration: N+1 detection on for every test, and ``query_budget``.

Enable with ``pytest_plugins = ["perf.pytest_plugin"]`` in the root conftest.py. A test in
which one SELECT shape runs ``PERF['NPLUSONE_THRESHOLD']`` times or more fails with the
report; ``@pytest.mark.allow_repeats("reason")`` or ``with allow_repeats(...)`` exempts a
legitimate repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager

import pytest

from perf.nplusone import allow_repeats, report
from perf.recording import Recording, record_queries


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_repeats(reason, match='*'): allow a legitimate repeated query"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    marker = item.get_closest_marker("allow_repeats")
    allow: tuple[str, ...] = ()
    if marker is not None:
        # Validates the reason; applies to this test-wide check only, so that a detector
        # used inside the test still sees every query.
        allow = (allow_repeats(*marker.args, **marker.kwargs).match,)
    with record_queries() as recording:
        result = yield
    report(recording, context=f"in test {item.nodeid}", mode="raise", allow=allow)
    return result


def format_queries(recording: Recording) -> str:
    return "\n".join(
        f"{i:>3}. [{q.alias}] {q.sql}" for i, q in enumerate(recording.queries, start=1)
    )


@contextmanager
def query_budget(
    n: int, *, exact: bool = False, include_savepoints: bool = False
) -> Iterator[Recording]:
    """Fail when the block runs more than ``n`` queries (or not exactly ``n``), printing
    every captured statement.

    Counted as production runs the block: the savepoint pair that the test's transaction
    makes of the block's outermost ``atomic()`` (a BEGIN/COMMIT, uncounted, in
    production) is left out; see ``perf.recording``. ``include_savepoints=True`` counts
    every statement sent."""
    with record_queries(include_savepoints=include_savepoints) as recording:
        yield recording
    if recording.count > n or (exact and recording.count != n):
        expected = f"exactly {n}" if exact else f"at most {n}"
        pytest.fail(
            f"query budget: expected {expected} queries, ran {recording.count}:\n"
            f"{format_queries(recording)}",
            pytrace=False,
        )


@pytest.fixture(name="query_budget")
def query_budget_fixture() -> Callable[..., object]:
    """``with query_budget(5): ...`` as a fixture, for tests that prefer one."""
    return query_budget
