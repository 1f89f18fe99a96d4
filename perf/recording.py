"""The query recorder: one ``execute_wrapper`` that times each statement once and notifies
the listeners in force.

``install()`` puts the wrapper on every connection (``connection_created``, from perf's
AppConfig); ``listening(*listeners)`` puts listeners in force for a block, in a ContextVar,
so they follow the block into other threads' connections (asgiref's for async ORM calls).
With no listener in force the wrapper costs one ContextVar read per statement.

A listener is any object with ``notify(event: QueryEvent) -> None``; it owns its state and
its options. The recorder imports no listener: N+1 detection (perf.nplusone), locks
(perf.locks), the tenant-scope guard (perf.tenancy), fetched rows (perf.rows), explain
capture (perf.explain) and the benches' tally (benchmarks.measure) import this module.
Listeners are notified outermost first; each sees every statement, profilers' own included
(``event.ignored`` says which, for those that leave them out).

``record_queries()`` is the counting listener: every statement of a block, per database
alias, for ``X-Query-Count``, query budgets and tests. What it counts
(``include_savepoints=False``, the mode of the request header and of every query budget):
the statements the code sends, as it sends them in production. BEGIN and COMMIT never
count: psycopg opens a transaction implicitly and Django commits through
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

import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol, cast

from django.db import connections

from perf import sql as sqlmod
from perf.callsite import project_call_site
from perf.conf import perf_settings

_UNSET: Any = object()


@dataclass(slots=True, eq=False)
class QueryEvent:
    """One statement, as the recorder hands it to each listener once it has run."""

    alias: str
    sql: str
    params: Any
    many: bool
    duration: float  # seconds, timed once for every listener
    succeeded: bool
    frame: FrameType  # the frame that called the wrapper: walk it for the caller
    context: dict[str, Any]  # Django's: "connection", "cursor"
    # The listeners in force, outermost first (a listener finds those nested in it).
    listeners: tuple[Listener, ...]
    _shape: str | None = None
    _call_site: str | None = _UNSET
    _ignored: bool | None = None
    _memo: dict[Callable[..., Any], Any] | None = None

    @property
    def shape(self) -> str:
        if self._shape is None:
            self._shape = sqlmod.shape(self.sql)
        return self._shape

    @property
    def call_site(self) -> str | None:
        """The project line that sent it (perf.callsite), walked once per statement."""
        if self._call_site is _UNSET:
            self._call_site = project_call_site(self.frame)
        return self._call_site

    @property
    def ignored(self) -> bool:
        """A profiler's own statement (silk's tables, the EXPLAIN silk runs per query)."""
        if self._ignored is None:
            self._ignored = _ignored(self.sql, self.frame)
        return self._ignored

    def once[T](self, compute: Callable[[QueryEvent], T]) -> T:
        """``compute(self)``, computed once per statement however many listeners (nested
        blocks of one kind) ask: the memo is keyed by the function."""
        memo = self._memo
        if memo is None:
            memo = self._memo = {}
        elif compute in memo:
            return cast(T, memo[compute])
        value = memo[compute] = compute(self)
        return value

    def inner(self, listener: Listener) -> tuple[Listener, ...]:
        """The listeners in force inside ``listener``'s block."""
        for i, candidate in enumerate(self.listeners):
            if candidate is listener:
                return self.listeners[i + 1 :]
        return ()


class Listener(Protocol):
    def notify(self, event: QueryEvent, /) -> None: ...


_active: ContextVar[tuple[Listener, ...]] = ContextVar("perf_listeners", default=())

_SILK_SQL = os.path.join("silk", "sql.py")


def _ignored(sql: str, frame: FrameType) -> bool:
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
        listeners = _active.get()
        if not listeners:
            return execute(sql, params, many, context)
        started = time.perf_counter()
        succeeded = False
        try:
            result = execute(sql, params, many, context)
            succeeded = True
            return result
        finally:
            event = QueryEvent(
                alias,
                sql,
                params,
                many,
                time.perf_counter() - started,
                succeeded,
                sys._getframe(1),
                context,
                listeners,
            )
            for listener in listeners:
                listener.notify(event)

    return wrapper


def install(connection: Any, **_: Any) -> None:
    """Put the recorder's wrapper on a connection for good (``connection_created``).

    Connections are per thread: one opened by another thread (asgiref's for async ORM
    calls, say) then records too whenever the ContextVar carries listeners there.
    """
    if not any(getattr(w, "_perf_wrapper", False) for w in connection.execute_wrappers):
        w = _wrapper(connection.alias)
        w._perf_wrapper = True  # type: ignore[attr-defined]
        connection.execute_wrappers.append(w)


@contextmanager
def listening(*listeners: Listener) -> Iterator[None]:
    """Notify ``listeners`` of every statement the block runs, on every database alias.
    The same listener may be put in force again to resume (a streaming response's body)."""
    # Connections opened from now on get the wrapper from connection_created (perf's
    # AppConfig); this covers one already open, or perf used outside INSTALLED_APPS.
    for alias in connections:
        install(connections[alias])
    token = _active.set((*_active.get(), *listeners))
    try:
        yield
    finally:
        _active.reset(token)


class Collector[T]:
    """A listener that keeps, in statement order, what ``find`` makes of each statement
    (None: nothing), profilers' own left out. ``find`` runs once per statement however
    many collectors of one kind are nested (``QueryEvent.once``)."""

    def __init__(self, find: Callable[[QueryEvent], T | None]) -> None:
        self.find = find
        self.found: list[T] = []

    def notify(self, event: QueryEvent) -> None:
        if not event.ignored and (item := event.once(self.find)) is not None:
            self.found.append(item)


# The counting listener ----------------------------------------------------------------------


@dataclass
class Query:
    alias: str
    sql: str
    shape: str
    duration: float


_SAVEPOINT = re.compile(r"\s*(?:SAVEPOINT|RELEASE\s+SAVEPOINT|ROLLBACK\s+TO\s+SAVEPOINT)\b", re.I)


def is_savepoint(sql: str) -> bool:
    """``SAVEPOINT``, ``RELEASE SAVEPOINT`` or ``ROLLBACK TO SAVEPOINT``."""
    return _SAVEPOINT.match(sql) is not None


@dataclass(eq=False)
class Recording:
    """Every statement a block ran (profilers' own left out), in order."""

    queries: list[Query] = field(default_factory=list)
    # False: leave out the savepoint statements that stand for an uncounted BEGIN/COMMIT
    # (see the module docstring).
    include_savepoints: bool = True
    # Per database alias: the atomic-block depth when the recording started.
    base_depth: dict[str, int] = field(default_factory=dict)

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
        return dict(Counter(q.shape for q in self.queries))

    def counts(self, event: QueryEvent) -> bool:
        """Whether the statement counts in this recording's mode."""
        if event.ignored:
            return False
        if self.include_savepoints or not is_savepoint(event.sql):
            return True
        base = self.base_depth.get(event.alias, 0)
        return len(getattr(event.context.get("connection"), "atomic_blocks", ())) > base

    def notify(self, event: QueryEvent) -> None:
        if self.counts(event):
            self.queries.append(Query(event.alias, event.sql, event.shape, event.duration))

    @classmethod
    def starting_now(cls, *, include_savepoints: bool = True) -> Recording:
        """A recording whose savepoint rule counts from each alias's current atomic depth
        (put it in force with ``listening``; again to resume it)."""
        depth = {alias: len(connections[alias].atomic_blocks) for alias in connections}
        return cls(include_savepoints=include_savepoints, base_depth=depth)


@contextmanager
def record_queries(*, include_savepoints: bool = True) -> Iterator[Recording]:
    """Record the block's queries on every database alias. ``include_savepoints=False``
    counts as production runs the block (see the module docstring)."""
    recording = Recording.starting_now(include_savepoints=include_savepoints)
    with listening(recording):
        yield recording
