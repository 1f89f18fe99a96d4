"""What each query fetched: rows, bytes and the table columns behind the result.

Measured under ``record_fetches()`` (a listener on perf.recording's recorder;
``query_budget`` uses it when it checks rows or columns), from the statement's result as
psycopg holds it (``cursor.pgresult``), before any row is read:

- ``rows``: the rows of the result (``PQntuples``);
- ``bytes``: the sum of every value's length as PostgreSQL sent it (the text format
  Django reads; NULL is 0): the payload, without the protocol's per-row framing. It
  copies every value (psycopg exposes ``PQgetvalue``, not ``PQgetlength``), which is why
  it is measured only where a test asks;
- ``columns``: for each result column, the table and column it was read from
  (``PQftable`` / ``PQftablecol``, exact whatever the alias: ``"catalog_book"."description"
  AS "blurb"`` is ``catalog_book.description``); computed columns belong to no table.

A server-side cursor's rows (``QuerySet.iterator()``, exports) arrive by later fetches
that pass no execute wrapper: its DECLARE is measured as no result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connections

from perf.recording import QueryEvent, listening

_TUPLES_OK = 2  # psycopg.pq.ExecStatus.TUPLES_OK


@dataclass(frozen=True)
class FetchStats:
    rows: int
    bytes: int
    # (table oid, column number, result name) per result column; oid 0: computed.
    columns: tuple[tuple[int, int, str], ...]


def fetch_stats(alias: str, cursor: Any) -> FetchStats | None:
    result = getattr(getattr(cursor, "cursor", None), "pgresult", None)
    if result is None or result.status != _TUPLES_OK:
        return None
    rows, fields = result.ntuples, result.nfields
    get_value = result.get_value  # psycopg exposes no PQgetlength: a copy of each value
    size = sum(len(get_value(r, c) or b"") for r in range(rows) for c in range(fields))
    columns = tuple(
        (result.ftable(c), result.ftablecol(c), (result.fname(c) or b"").decode())
        for c in range(fields)
    )
    return FetchStats(rows, size, columns)


@dataclass(frozen=True)
class Fetched:
    """A statement that returned rows, and what they weighed."""

    # The statement's place in the block (1 for the first), as its recorder numbers it.
    position: int
    alias: str
    sql: str
    fetch: FetchStats
    call_site: str | None


def _measured(event: QueryEvent) -> FetchStats | None:
    # Once per statement however many fetch recorders are nested (QueryEvent.once).
    return fetch_stats(event.alias, event.context.get("cursor")) if event.succeeded else None


@dataclass(eq=False)
class FetchRecorder:
    """The listener: what each statement of a block fetched. ``position`` numbers the
    statements (default: every statement this recorder sees); query_budget numbers them
    as its Recording counts them."""

    fetched: list[Fetched] = field(default_factory=list)
    position: Callable[[], int] | None = None
    _seen: int = field(default=0, init=False)

    def notify(self, event: QueryEvent) -> None:
        if event.ignored:
            return
        self._seen += 1
        fetch = event.once(_measured)
        if fetch is not None:
            position = self.position() if self.position is not None else self._seen
            self.fetched.append(Fetched(position, event.alias, event.sql, fetch, event.call_site))

    @property
    def rows(self) -> int:
        return sum(f.fetch.rows for f in self.fetched)

    @property
    def bytes(self) -> int:
        return sum(f.fetch.bytes for f in self.fetched)


@contextmanager
def record_fetches(*, position: Callable[[], int] | None = None) -> Iterator[FetchRecorder]:
    """Measure what each of the block's statements fetches, on every database alias."""
    recorder = FetchRecorder(position=position)
    with listening(recorder):
        yield recorder


_COLUMNS_SQL = """
SELECT c.oid, a.attnum, c.relname, a.attname
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm')
  AND c.relnamespace::regnamespace::text = ANY (current_schemas(false))
"""
# Per database (alias and name): (table oid, column number) -> (table, column).
_names: dict[tuple[str, str], dict[tuple[int, int], tuple[str, str]]] = {}


def _column_names(alias: str, refresh: bool = False) -> dict[tuple[int, int], tuple[str, str]]:
    connection = connections[alias]
    key = (alias, str(connection.settings_dict.get("NAME")))
    if refresh or key not in _names:
        connection.ensure_connection()
        # The driver's own cursor: no execute wrapper, so no recording sees this lookup.
        with connection.connection.cursor() as cursor:
            cursor.execute(_COLUMNS_SQL)
            _names[key] = {(oid, num): (table, col) for oid, num, table, col in cursor}
    return _names[key]


def fetched_columns(query: Fetched) -> list[str]:
    """``["catalog_book.id", "catalog_book.title", ...]``: the table columns the query's
    result carried, in result order (computed columns left out)."""
    names = _column_names(query.alias)
    if any((oid, num) not in names for oid, num, _ in query.fetch.columns if oid):
        names = _column_names(query.alias, refresh=True)
    found = []
    for oid, num, _ in query.fetch.columns:
        if oid and (oid, num) in names:
            table, column = names[(oid, num)]
            found.append(f"{table}.{column}")
    return found


def over_fetches(
    fetched: Iterable[Fetched], forbidden: Mapping[str, Iterable[str]]
) -> list[tuple[Fetched, list[str]]]:
    """``(fetched, ["catalog_book.description", ...])`` for each statement whose result
    carried a forbidden column (``{"catalog_book": {"description"}}``)."""
    wanted = {f"{table}.{column}" for table, columns in forbidden.items() for column in columns}
    found = []
    for query in fetched:
        hit = [c for c in fetched_columns(query) if c in wanted]
        if hit:
            found.append((query, hit))
    return found


FIX = (
    "fix: select only what the response renders: name the columns in the selector's "
    "bundle (values(...) / only(...), or defer(...) the heavy ones)"
)


def describe_over_fetches(found: list[tuple[Fetched, list[str]]]) -> str:
    lines = []
    for query, columns in found:
        rows, size = query.fetch.rows, query.fetch.bytes
        lines.append(
            f"  query {query.position} fetched {', '.join(columns)} ({rows} rows, {size} bytes)\n"
            f"    at {query.call_site or '?'}\n    {query.sql[:300]}"
        )
    return "\n".join(lines) + f"\n  {FIX}"
