"""What each query fetched: rows, bytes and the table columns behind the result.

Measured under ``record_queries(measure_fetch=True)`` (``query_budget`` does), from the
statement's result as psycopg holds it (``cursor.pgresult``), before any row is read:

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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connections

if TYPE_CHECKING:
    from perf.recording import Query

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


def fetched_columns(query: Query) -> list[str]:
    """``["catalog_book.id", "catalog_book.title", ...]``: the table columns the query's
    result carried, in result order (computed columns left out)."""
    if query.fetch is None:
        return []
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
    queries: Iterable[Query], forbidden: Mapping[str, Iterable[str]]
) -> list[tuple[int, Query, list[str]]]:
    """``(position, query, ["catalog_book.description", ...])`` for each query whose
    result carried a forbidden column (``{"catalog_book": {"description"}}``)."""
    wanted = {f"{table}.{column}" for table, columns in forbidden.items() for column in columns}
    found = []
    for i, query in enumerate(queries, start=1):
        hit = [c for c in fetched_columns(query) if c in wanted]
        if hit:
            found.append((i, query, hit))
    return found


FIX = (
    "fix: select only what the response renders: name the columns in the selector's "
    "bundle (values(...) / only(...), or defer(...) the heavy ones)"
)


def describe_over_fetches(found: list[tuple[int, Query, list[str]]]) -> str:
    lines = []
    for i, query, columns in found:
        rows = query.fetch.rows if query.fetch else 0
        size = query.fetch.bytes if query.fetch else 0
        lines.append(
            f"  query {i} fetched {', '.join(columns)} ({rows} rows, {size} bytes)\n"
            f"    at {query.call_site or '?'}\n    {query.sql[:300]}"
        )
    return "\n".join(lines) + f"\n  {FIX}"
