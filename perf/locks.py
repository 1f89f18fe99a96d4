"""The locks a block takes, read from its SQL, and services that declare theirs.

Each statement's locks, in the order PostgreSQL takes them (``record_locks()``, a listener
on perf.recording's recorder):

- ``SELECT ... FOR UPDATE`` / ``FOR NO KEY UPDATE`` / ``FOR SHARE`` / ``FOR KEY SHARE``:
  ``(table, "FOR UPDATE")`` for the tables of its ``OF`` list, else its FROM table;
- ``UPDATE t`` and ``DELETE FROM t``: ``(t, "UPDATE")``, ``(t, "DELETE")``, the row locks
  that a write takes on the rows it changes;
- ``pg_advisory_xact_lock(...)`` and its ``try`` form: ``("advisory", "ADVISORY")``.

The foreign-key checks of an INSERT (``FOR KEY SHARE`` on the referenced rows) are
PostgreSQL's own and not listed.

A write service states its locks once, next to it, the way a view states its query
budget::

    @takes_locks("orders_order", "catalog_book")
    def order_cancel(...): ...

The tables it locks explicitly (``FOR ...`` or ``advisory``), in the order it first
locks them. With ``PERF['LOCK_CHECK']`` on (the test settings), every call of the service,
in any test, is checked against its declaration (``check_locks``): it locks no table it
does not declare, first locks them in the declared order, and writes no declared table
before locking it (a dropped ``FOR UPDATE``). ``caller_holds`` names the tables whose
locks its caller must already hold (a helper that writes rows its caller locked).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

from perf import sql as sqlmod
from perf.conf import perf_settings
from perf.recording import Collector, QueryEvent, listening

ADVISORY = "advisory"
EXPLICIT_MODES = frozenset({"FOR UPDATE", "FOR NO KEY UPDATE", "FOR SHARE", "FOR KEY SHARE"})
ATTRIBUTE = "perf_lock_declaration"


class Lock(NamedTuple):
    table: str
    mode: str  # "FOR UPDATE", ..., "UPDATE", "DELETE", "ADVISORY"

    @property
    def explicit(self) -> bool:
        return self.mode in EXPLICIT_MODES or self.mode == "ADVISORY"

    def __str__(self) -> str:
        return f"{self.table} {self.mode}"


_ROW_LOCK = re.compile(
    r"\bFOR\s+(UPDATE|NO\s+KEY\s+UPDATE|SHARE|KEY\s+SHARE)"
    r"(?:\s+OF\s+((?:\"?[\w.]+\"?)(?:\s*,\s*\"?[\w.]+\"?)*))?",
    re.IGNORECASE,
)
_ADVISORY = re.compile(r"\bpg_(?:try_)?advisory_(?:xact_)?lock(?:_shared)?\s*\(", re.IGNORECASE)
# "UPDATE t [AS a] SET" (not ON CONFLICT's "DO UPDATE SET"), "DELETE FROM t".
_UPDATE = re.compile(r"\bUPDATE\s+\"?([\w.]+)\"?(?:\s+(?:AS\s+)?\w+)?\s+SET\b", re.IGNORECASE)
_DELETE = re.compile(r"\bDELETE\s+FROM\s+\"?([\w.]+)\"?", re.IGNORECASE)
_QUICK = re.compile(r"\b(?:FOR|UPDATE|DELETE)\b|advisory", re.IGNORECASE)


def locks_taken(sql: str) -> tuple[Lock, ...]:
    if _QUICK.search(sql) is None:
        return ()
    found: list[Lock] = []
    if _ADVISORY.search(sql):
        found.append(Lock(ADVISORY, "ADVISORY"))
    for match in _ROW_LOCK.finditer(sql):
        mode = "FOR " + " ".join(match.group(1).upper().split())
        if match.group(2):
            tables = [t.strip().strip('"') for t in match.group(2).split(",")]
        else:
            main = sqlmod.main_table(sql) if sqlmod.is_select(sql) else _first_from(sql)
            tables = [main] if main else []
        found.extend(Lock(table, mode) for table in tables)
    found.extend(Lock(m.group(1), "UPDATE") for m in _UPDATE.finditer(sql))
    found.extend(Lock(m.group(1), "DELETE") for m in _DELETE.finditer(sql))
    return tuple(found)


_FROM = re.compile(r'\bFROM\s+"?([\w.]+)"?', re.IGNORECASE)


def _first_from(sql: str) -> str | None:
    match = _FROM.search(sql)
    return match.group(1) if match else None


@dataclass(frozen=True)
class LockedStatement:
    """A statement that took locks, with the project line that sent it."""

    sql: str
    locks: tuple[Lock, ...]
    call_site: str | None = None


def _locked(event: QueryEvent) -> LockedStatement | None:
    locks = locks_taken(event.sql)
    return LockedStatement(event.sql, locks, event.call_site) if locks else None


class LockRecorder(Collector[LockedStatement]):
    """The listener: every statement of a block that took locks, in order."""

    def __init__(self) -> None:
        super().__init__(_locked)

    def locks(self) -> list[Lock]:
        """Every lock the block's statements took, in the order they took them."""
        return [lock for s in self.found for lock in s.locks]


@contextmanager
def record_locks() -> Iterator[LockRecorder]:
    """Record the locks the block's statements take, on every database alias."""
    recorder = LockRecorder()
    with listening(recorder):
        yield recorder


@dataclass(frozen=True)
class LockDeclaration:
    tables: tuple[str, ...]
    caller_holds: tuple[str, ...] = ()


class LockOrderError(AssertionError):
    """A service took locks other than it declares; an AssertionError so that test
    runners report it as a failure."""


_FIX = (
    "fix: lock the rows before writing them, in the declared order, with "
    "TenantScopedQuerySet.lock_in_id_order() (SELECT ... FOR UPDATE ORDER BY id); "
    "or, if the change is meant, update the @takes_locks declaration"
)


def _describe(statements: Sequence[LockedStatement]) -> str:
    lines = [f"    {lock!s:<40} at {s.call_site or '?'}" for s in statements for lock in s.locks]
    return "\n".join(lines) or "    (none)"


def check_locks(
    name: str, declaration: LockDeclaration, statements: Sequence[LockedStatement]
) -> None:
    """Raise LockOrderError unless ``statements`` (one call of the service ``name``)
    locked as declared (see the module docstring)."""
    declared = declaration.tables
    problems: list[str] = []
    first_locked: list[str] = []
    for q in statements:
        for lock in q.locks:
            if lock.explicit:
                if lock.table not in declared and lock.table not in declaration.caller_holds:
                    problems.append(
                        f"takes an undeclared lock {lock} at {q.call_site or '?'} "
                        f"(declared: {list(declared) or 'none'})"
                    )
                elif lock.table in declared and lock.table not in first_locked:
                    first_locked.append(lock.table)
            elif lock.table in declared and lock.table not in first_locked:
                problems.append(
                    f"writes {lock.table} ({lock.mode}) without first locking its rows "
                    "(SELECT ... FOR UPDATE), as it declares: a dropped FOR UPDATE lets a "
                    f"concurrent writer change them in between\n    at {q.call_site or '?'}"
                )
                first_locked.append(lock.table)  # report each table once
    order = [t for t in declared if t in first_locked]
    actual = [t for t in first_locked if t in declared]
    if order != actual and not problems:
        problems.append(f"locks {actual} in this order; it declares {list(declared)}")
    if problems:
        raise LockOrderError(
            f"{name}: locks differ from its @takes_locks declaration\n  "
            + "\n  ".join(problems)
            + f"\n  locks taken, in order:\n{_describe(statements)}\n  {_FIX}"
        )


def takes_locks[F: Callable[..., Any]](
    *tables: str, caller_holds: Sequence[str] = ()
) -> Callable[[F], F]:
    """Declare the tables a service locks explicitly, in lock order (``"advisory"`` for
    an advisory lock); none: it locks only the rows its writes change."""
    declaration = LockDeclaration(tuple(tables), tuple(caller_holds))

    def declare(service: F) -> F:
        name = f"{service.__module__}.{service.__qualname__}"

        @functools.wraps(service)
        def checked(*args: Any, **kwargs: Any) -> Any:
            if not perf_settings().LOCK_CHECK:
                return service(*args, **kwargs)
            with record_locks() as recorder:
                result = service(*args, **kwargs)
            check_locks(name, declaration, recorder.found)
            return result

        setattr(checked, ATTRIBUTE, declaration)
        return checked  # type: ignore[return-value]

    return declare


def declared_locks(service: Callable[..., Any]) -> LockDeclaration | None:
    declaration: LockDeclaration | None = getattr(service, ATTRIBUTE, None)
    return declaration


def assert_locks(
    taken: LockRecorder | Sequence[LockedStatement], expected: Sequence[tuple[str, str]]
) -> None:
    """Assert the exact locks (``[("orders_order", "FOR UPDATE"), ...]``) that a block
    (``record_locks()``, or its statements) took, in order, printing each with its call
    site."""
    statements = taken.found if isinstance(taken, LockRecorder) else taken
    actual = [tuple(lock) for s in statements for lock in s.locks]
    wanted = [tuple(e) for e in expected]
    if actual != wanted:
        raise LockOrderError(
            f"expected locks {wanted},\n  took {actual}:\n{_describe(statements)}\n  {_FIX}"
        )
