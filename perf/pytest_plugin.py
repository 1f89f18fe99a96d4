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
from contextlib import ExitStack, contextmanager

import pytest

from perf.nplusone import allow_repeats, count_repeats, report
from perf.recording import Recording, record_queries
from perf.rows import FetchRecorder, describe_over_fetches, over_fetches, record_fetches
from perf.tenancy import ScopeGuard, UnscopedAccessError, guard_scope, tenant_scope


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
    guarded = tenant_scope() is not None and unscoped_reason is None
    guard: ScopeGuard | None = None
    with ExitStack() as stack:
        repeats = stack.enter_context(count_repeats())
        if guarded:
            guard = stack.enter_context(guard_scope())
        result = yield
    report(repeats, context=f"in test {item.nodeid}", mode="raise", allow=allow)
    if guard is not None and guard.unscoped:
        raise UnscopedAccessError(guard.unscoped, context=f"in test {item.nodeid}")
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
    fetches: FetchRecorder | None = None
    with ExitStack() as stack:
        recording = stack.enter_context(record_queries(include_savepoints=include_savepoints))
        if measure:
            # Numbered as the recording counts: "query 3" is the third statement listed.
            fetches = stack.enter_context(record_fetches(position=lambda: recording.count))
        yield recording
    if recording.count > n or (exact and recording.count != n):
        expected = f"exactly {n}" if exact else f"at most {n}"
        pytest.fail(
            f"query budget: expected {expected} queries, ran {recording.count}:\n"
            f"{format_queries(recording)}",
            pytrace=False,
        )
    if forbid_columns is not None and fetches is not None:
        found = over_fetches(fetches.fetched, forbid_columns)
        if found:
            pytest.fail(
                "query budget: fetched columns the block must not fetch:\n"
                + describe_over_fetches(found),
                pytrace=False,
            )
    if max_rows is not None and fetches is not None and fetches.rows > max_rows:
        per_query = "\n".join(
            f"  {f.position}. {f.fetch.rows} rows at {f.call_site or '?'}: {f.sql[:200]}"
            for f in fetches.fetched
        )
        pytest.fail(
            f"query budget: expected at most {max_rows} rows fetched, fetched "
            f"{fetches.rows}:\n{per_query}",
            pytrace=False,
        )


@pytest.fixture(name="query_budget")
def query_budget_fixture() -> Callable[..., object]:
    """``with query_budget(5): ...`` as a fixture, for tests that prefer one."""
    return query_budget
