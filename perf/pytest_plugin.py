"""pytest integration: N+1 detection and the tenant-scope guard on for every test, and
``query_budget``.

Enable with ``pytest_plugins = ["perf.pytest_plugin"]`` in the root conftest.py. A test in
which one SELECT shape runs ``PERF['NPLUSONE_THRESHOLD']`` times or more fails with the
report; ``@pytest.mark.allow_repeats("reason")`` or ``with allow_repeats(...)`` exempts a
legitimate repeat. Once the project has registered its tenant-owned tables
(``perf.tenancy``), a test whose code runs an unscoped statement on one fails with its
call site; ``@pytest.mark.allow_unscoped("reason")`` exempts a test that does so on
purpose.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import contextmanager

import pytest

from perf.nplusone import allow_repeats, report
from perf.recording import Recording, record_queries
from perf.rows import describe_over_fetches, over_fetches
from perf.tenancy import UnscopedAccessError, tenant_scope


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_repeats(reason, match='*'): allow a legitimate repeated query"
    )
    config.addinivalue_line(
        "markers", "allow_unscoped(reason): the test runs unscoped tenant statements on purpose"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    marker = item.get_closest_marker("allow_repeats")
    allow: tuple[str, ...] = ()
    if marker is not None:
        # Validates the reason; applies to this test-wide check only, so that a detector
        # used inside the test still sees every query.
        allow = (allow_repeats(*marker.args, **marker.kwargs).match,)
    unscoped_reason = item.get_closest_marker("allow_unscoped")
    if unscoped_reason is not None and not "".join(unscoped_reason.args).strip():
        raise ValueError("allow_unscoped needs the reason the test runs unscoped statements")
    guard = tenant_scope() is not None and unscoped_reason is None
    with record_queries(guard_scope=guard) as recording:
        result = yield
    report(recording, context=f"in test {item.nodeid}", mode="raise", allow=allow)
    if recording.unscoped:
        raise UnscopedAccessError(recording.unscoped, context=f"in test {item.nodeid}")
    return result


def format_queries(recording: Recording) -> str:
    return "\n".join(
        f"{i:>3}. [{q.alias}] {q.sql}" for i, q in enumerate(recording.queries, start=1)
    )


@contextmanager
def query_budget(
    n: int,
    *,
    exact: bool = False,
    include_savepoints: bool = False,
    forbid_columns: Mapping[str, Iterable[str]] | None = None,
    max_rows: int | None = None,
) -> Iterator[Recording]:
    """Fail when the block runs more than ``n`` queries (or not exactly ``n``), printing
    every captured statement.

    Counted as production runs the block: the savepoint pair that the test's transaction
    makes of the block's outermost ``atomic()`` (a BEGIN/COMMIT, uncounted, in
    production) is left out; see ``perf.recording``. ``include_savepoints=True`` counts
    every statement sent.

    What the queries fetch (``perf.rows``), when stated: ``forbid_columns``
    (``{"catalog_book": {"description"}}``) fails a query whose result carries one of
    those table columns, whatever its alias; ``max_rows`` caps the rows of all results."""
    measure = forbid_columns is not None or max_rows is not None
    with record_queries(include_savepoints=include_savepoints, measure_fetch=measure) as recording:
        yield recording
    if recording.count > n or (exact and recording.count != n):
        expected = f"exactly {n}" if exact else f"at most {n}"
        pytest.fail(
            f"query budget: expected {expected} queries, ran {recording.count}:\n"
            f"{format_queries(recording)}",
            pytrace=False,
        )
    if forbid_columns is not None:
        found = over_fetches(recording.queries, forbid_columns)
        if found:
            pytest.fail(
                "query budget: fetched columns the block must not fetch:\n"
                + describe_over_fetches(found),
                pytrace=False,
            )
    if max_rows is not None and recording.rows_fetched > max_rows:
        per_query = "\n".join(
            f"  {i}. {q.fetch.rows} rows at {q.call_site or '?'}: {q.sql[:200]}"
            for i, q in enumerate(recording.queries, start=1)
            if q.fetch is not None
        )
        pytest.fail(
            f"query budget: expected at most {max_rows} rows fetched, fetched "
            f"{recording.rows_fetched}:\n{per_query}",
            pytrace=False,
        )


@pytest.fixture(name="query_budget")
def query_budget_fixture() -> Callable[..., object]:
    """``with query_budget(5): ...`` as a fixture, for tests that prefer one."""
    return query_budget
