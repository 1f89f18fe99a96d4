"""Record every SQL statement run in a block, per database alias, with a ContextVar.

``record_queries()`` installs ``connection.execute_wrapper`` on every configured
connection (Django's hook that runs around each cursor execute, the counterpart of
SQLAlchemy's ``before_cursor_execute``) and collects into the innermost active recordings.
Recordings nest: an outer one (a test) also sees an inner one's queries (a request).

What counts (``include_savepoints=False``, the mode of the request header and of every
query budget): the statements the code sends, as it sends them in production. BEGIN and
COMMIT never count: psycopg opens a transaction implicitly and Django commits through
``connection.commit()``, so neither passes through ``execute_wrapper``. A test runs inside
its own transaction, though, and there the outermost ``atomic()`` of the code under test
becomes a ``SAVEPOINT`` / ``RELEASE SAVEPOINT`` pair (or ``ROLLBACK TO SAVEPOINT``) in
place of that uncounted BEGIN/COMMIT. This mode leaves out the savepoint statements run
at the transaction depth the recording started at: none in production (a request starts
outside any transaction), exactly the harness's pair in a test. A savepoint nested in the
code's own transaction runs in production too, and counts in both. (zulip's
``include_savepoints=False`` drops every savepoint; dropping only the harness's keeps a
test's count equal to the production ``X-Query-Count``.)
"""

from __future__ import annotations

import functools
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from django.db import connections

from perf import sql as sqlmod
from perf.callsite import Origin, describe_origin, project_call_site
from perf.conf import perf_settings
from perf.locks import Lock, locks_taken
from perf.rows import FetchStats, fetch_stats
from perf.tenancy import Unscoped, unscoped_access


@dataclass
class Query:
    alias: str
    sql: str
    shape: str
    duration: float
    # Measured only under a recording with measure_fetch=True (perf.rows); None otherwise,
    # and for a statement that returns no rows (an UPDATE without RETURNING, a DECLARE).
    fetch: FetchStats | None = None
    # Row and advisory locks the statement takes (perf.locks), in statement order.
    locks: tuple[Lock, ...] = ()
    # The project line that sent it: kept for lock-taking and measured statements.
    call_site: str | None = None


@dataclass
class Recording:
    queries: list[Query] = field(default_factory=list)
    _shape_counts: dict[str, int] = field(default_factory=dict)
    # Where each repeated shape came from, taken from the stack at its first repeat: the
    # stack is walked once per repeated shape, never for every query.
    origins: dict[str, Origin] = field(default_factory=dict)
    capture_origins: bool = True
    # Occurrences run under perf.nplusone.allow_repeats(), per shape.
    allowed_counts: dict[str, int] = field(default_factory=dict)
    # A request's recording: its N+1s are judged per request, by the middleware.
    is_request: bool = False
    # Occurrences that ran inside a request nested in this recording, per shape: counted,
    # but left to that request's own N+1 check (five requests that each authenticate once
    # are not an N+1).
    delegated_counts: dict[str, int] = field(default_factory=dict)
    # False: leave out the savepoint statements that stand for an uncounted BEGIN/COMMIT
    # (see the module docstring).
    include_savepoints: bool = True
    # Per database alias: the atomic-block depth when the recording started.
    _base_depth: dict[str, int] = field(default_factory=dict)
    # The parameters of each shape's first run, until its second.
    _first_params: dict[str, Any] = field(default_factory=dict)
    # Measure each statement's rows, bytes and columns (perf.rows): a walk over every
    # value of every result, so only where a test states them.
    measure_fetch: bool = False
    # Check every statement on a registered tenant-owned table for a tenant filter
    # (perf.tenancy); what fails the check lands in ``unscoped``.
    guard_scope: bool = False
    unscoped: list[Unscoped] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.queries)

    def count_for(self, alias: str) -> int:
        return sum(1 for q in self.queries if q.alias == alias)

    def time_ms(self, alias: str | None = None) -> float:
        return 1000 * sum(q.duration for q in self.queries if alias in (None, q.alias))

    def aliases(self) -> list[str]:
        return sorted({q.alias for q in self.queries})

    def shape_counts(self) -> dict[str, int]:
        return dict(self._shape_counts)

    def locks(self) -> list[Lock]:
        """Every lock the block's statements took, in the order they took them."""
        return [lock for q in self.queries for lock in q.locks]

    @property
    def rows_fetched(self) -> int:
        return sum(q.fetch.rows for q in self.queries if q.fetch is not None)

    @property
    def bytes_fetched(self) -> int:
        return sum(q.fetch.bytes for q in self.queries if q.fetch is not None)

    def _counts(self, alias: str, sql: str, connection: Any) -> bool:
        if self.include_savepoints or not is_savepoint(sql):
            return True
        base = self._base_depth.get(alias, 0)
        return len(getattr(connection, "atomic_blocks", ())) > base

    def _add(
        self, query: Query, frame: FrameType, params: Any, allowed: bool, delegated: bool
    ) -> None:
        if allowed:
            self.allowed_counts[query.shape] = self.allowed_counts.get(query.shape, 0) + 1
        if delegated:
            self.delegated_counts[query.shape] = self.delegated_counts.get(query.shape, 0) + 1
        n = self._shape_counts.get(query.shape, 0) + 1
        self._shape_counts[query.shape] = n
        if self.capture_origins and query.shape not in self.origins:
            if n == 1:
                # Kept until the second run: the value that changed between the two
                # names the relation (relations.from_queryset).
                self._first_params[query.shape] = params
            elif n == 2:
                previous = self._first_params.pop(query.shape, None)
                self.origins[query.shape] = describe_origin(
                    frame, query.sql, _flat_params(previous)
                )
        self.queries.append(query)


def _flat_params(params: Any) -> tuple[object, ...]:
    if isinstance(params, dict):
        return tuple(params.values())
    if isinstance(params, list | tuple):
        return tuple(params)
    return ()


_active: ContextVar[tuple[Recording, ...]] = ContextVar("perf_recordings", default=())


@functools.lru_cache(maxsize=256)
def _word(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w]){re.escape(pattern)}(?![\w])")


def pattern_matches(pattern: str, sql: str) -> bool:
    """``*`` matches any statement; any other pattern matches as a whole name or phrase:
    ``catalog_book`` matches ``"catalog_book"."id"`` but not ``"catalog_bookgenre"``."""
    return pattern == "*" or _word(pattern).search(sql) is not None


@dataclass(eq=False)
class Allowance:
    """A statement pattern allowed to repeat (allow_repeats), with its reason and how many
    statements it has let through."""

    pattern: str
    reason: str = ""
    used: int = 0


# Set by allow_repeats(): the allowances in force, innermost last.
allowed_patterns: ContextVar[tuple[Allowance, ...]] = ContextVar("perf_allowed", default=())


def _is_allowed(sql: str) -> bool:
    for allowance in allowed_patterns.get():
        if pattern_matches(allowance.pattern, sql):
            allowance.used += 1
            return True
    return False


_SAVEPOINT = re.compile(r"\s*(?:SAVEPOINT|RELEASE\s+SAVEPOINT|ROLLBACK\s+TO\s+SAVEPOINT)\b", re.I)


def is_savepoint(sql: str) -> bool:
    """``SAVEPOINT``, ``RELEASE SAVEPOINT`` or ``ROLLBACK TO SAVEPOINT``."""
    return _SAVEPOINT.match(sql) is not None


_SILK_SQL = os.path.join("silk", "sql.py")


def _ignored(sql: str, frame: FrameType) -> bool:
    """Profilers' own statements: silk's tables, and the EXPLAIN silk runs per query."""
    prefixes = perf_settings().IGNORED_TABLE_PREFIXES
    if prefixes and any(f'"{p}' in sql or f" {p}" in sql for p in prefixes):
        return True
    if sql.lstrip()[:7].upper() == "EXPLAIN":
        f: FrameType | None = frame
        while f is not None:
            if f.f_code.co_filename.endswith(_SILK_SQL):
                return True
            f = f.f_back
    return False


def _wrapper(alias: str) -> Callable[..., Any]:
    def wrapper(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
    ) -> Any:
        recordings = _active.get()
        if not recordings:
            return execute(sql, params, many, context)
        started = time.perf_counter()
        succeeded = False
        try:
            result = execute(sql, params, many, context)
            succeeded = True
            return result
        finally:
            duration = time.perf_counter() - started
            frame = sys._getframe(1)
            if not _ignored(sql, frame):
                shape = sqlmod.shape(sql)
                allowed = _is_allowed(sql)
                # Recordings are outermost first; a request recording delegates for every
                # recording outside it.
                inner_request = False
                query = Query(alias, sql, shape, duration, locks=locks_taken(sql))
                measuring = succeeded and any(r.measure_fetch for r in recordings)
                if measuring:
                    query.fetch = fetch_stats(alias, context.get("cursor"))
                if query.locks or measuring:
                    query.call_site = project_call_site(frame)
                unscoped = None
                if any(r.guard_scope for r in recordings):
                    unscoped = unscoped_access(sql, frame)
                for recording in reversed(recordings):
                    if recording._counts(alias, sql, context.get("connection")):
                        recording._add(query, frame, params, allowed, inner_request)
                        if unscoped is not None and recording.guard_scope:
                            recording.unscoped.append(unscoped)
                    inner_request = inner_request or recording.is_request

    return wrapper


def install(connection: Any, **_: Any) -> None:
    """Put the recording wrapper on a connection for good (``connection_created``).

    Connections are per thread: one opened by another thread (asgiref's for async ORM
    calls, say) then records too whenever the ContextVar carries a recording there.
    Idle, the wrapper costs one ContextVar read per query.
    """
    if not any(getattr(w, "_perf_wrapper", False) for w in connection.execute_wrappers):
        w = _wrapper(connection.alias)
        w._perf_wrapper = True  # type: ignore[attr-defined]
        connection.execute_wrappers.append(w)


@contextmanager
def record_queries(
    *,
    capture_origins: bool = True,
    is_request: bool = False,
    include_savepoints: bool = True,
    measure_fetch: bool = False,
    guard_scope: bool = False,
    into: Recording | None = None,
) -> Iterator[Recording]:
    """Record the block's queries on every database alias (``into``: resume a recording,
    e.g. while a streaming response's body is produced). ``include_savepoints=False``
    counts as production runs the block (see the module docstring); ``measure_fetch``
    measures each result (perf.rows); ``guard_scope`` checks each statement's tenant
    filter (perf.tenancy)."""
    recording = into or Recording(
        capture_origins=capture_origins,
        is_request=is_request,
        include_savepoints=include_savepoints,
        measure_fetch=measure_fetch,
        guard_scope=guard_scope,
    )
    # Connections opened from now on get the wrapper from connection_created (perf's
    # AppConfig); this covers one already open, or perf used outside INSTALLED_APPS.
    for alias in connections:
        install(connections[alias])
        if into is None:
            recording._base_depth[alias] = len(connections[alias].atomic_blocks)
    token = _active.set((*_active.get(), recording))
    try:
        yield recording
    finally:
        _active.reset(token)
