"""EXPLAIN (ANALYZE, BUFFERS) of registered hot queries, with findings that matter.

Findings: a Seq Scan on a large table, many rows removed by a filter, a sort that spilled
to disk. ``manage.py explain --check`` exits non-zero on any.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, transaction
from django.db.models import QuerySet

from perf.nplusone import allow_repeats
from perf.registry import Built

# A table this big is worth an index for a selective filter.
LARGE_TABLE_ROWS = 1_000
REMOVED_BY_FILTER_ROWS = 1_000


@dataclass
class PlanSummary:
    name: str
    sql: str
    top_node: str
    indexes: list[str]
    actual_rows: int
    shared_hit: int
    shared_read: int
    planning_ms: float
    execution_ms: float
    node_types: list[str]
    findings: list[str] = field(default_factory=list)


def to_sql(built: Built, using: str = "default") -> tuple[str, tuple[Any, ...]]:
    if isinstance(built, QuerySet):
        sql, params = built.query.get_compiler(using=using).as_sql()
        return sql, tuple(params)
    sql, params = built
    return sql, tuple(params)


def explain(
    name: str, built: Built, *, using: str = "default", streamed: bool = False
) -> PlanSummary:
    sql, params = to_sql(built, using)
    if streamed and isinstance(built, QuerySet):
        doc = _explain_through_cursor(built, using)
    else:
        with connections[using].cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
            raw = cursor.fetchone()[0]
            doc = raw[0] if isinstance(raw, list) else raw
    plan = doc["Plan"]
    nodes = list(_walk(plan))
    relations = {n["Relation Name"] for n in nodes if "Relation Name" in n}
    with (
        allow_repeats("one table-size lookup per hot query", match="pg_class"),
        connections[using].cursor() as cursor,
    ):
        sizes = _table_sizes(cursor, relations)
    summary = PlanSummary(
        name=name,
        sql=sql,
        top_node=_label(plan),
        indexes=sorted({n["Index Name"] for n in nodes if "Index Name" in n}),
        actual_rows=int(plan.get("Actual Rows", 0)),
        shared_hit=int(plan.get("Shared Hit Blocks", 0)),
        shared_read=int(plan.get("Shared Read Blocks", 0)),
        planning_ms=float(doc.get("Planning Time", 0.0)),
        execution_ms=float(doc.get("Execution Time", 0.0)),
        node_types=[_label(n) for n in nodes],
    )
    summary.findings = list(_findings(nodes, sizes))
    return summary


def _explain_through_cursor(queryset: QuerySet[Any], using: str) -> dict[str, Any]:
    """The analysed plan of the queryset as a server-side cursor runs it.

    PostgreSQL plans a cursor for a fast start (cursor_tuple_fraction), so a plain EXPLAIN
    of the same SELECT can show another plan (a sort where the cursor walks an index).
    EXPLAIN accepts DECLARE, which needs no extra privilege; it runs in a transaction,
    as cursors must, and is rolled back.
    """
    sql, params = to_sql(queryset, using)
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
            f"DECLARE perf_explain NO SCROLL CURSOR FOR {sql}",
            params,
        )
        raw = cursor.fetchone()[0]
        transaction.set_rollback(True, using=using)
    doc = raw[0] if isinstance(raw, list) else raw
    return dict(doc)


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _walk(child)


def _label(node: dict[str, Any]) -> str:
    label = str(node["Node Type"])
    if "Index Name" in node:
        label += f" using {node['Index Name']}"
    if "Relation Name" in node:
        label += f" on {node['Relation Name']}"
    return label


def _table_sizes(cursor: Any, relations: set[str]) -> dict[str, int]:
    if not relations:
        return {}
    cursor.execute(
        "SELECT relname, GREATEST(reltuples, 0)::bigint FROM pg_class "
        "WHERE relkind = 'r' AND relname = ANY(%s)",
        [sorted(relations)],
    )
    return dict(cursor.fetchall())


def _findings(nodes: list[dict[str, Any]], sizes: dict[str, int]) -> Iterator[str]:
    for node in nodes:
        relation = node.get("Relation Name")
        loops = max(int(node.get("Actual Loops", 1)), 1)
        removed = int(node.get("Rows Removed by Filter", 0)) * loops
        kept = int(node.get("Actual Rows", 0)) * loops
        size = sizes.get(relation or "", 0)
        if node["Node Type"] == "Seq Scan" and size >= LARGE_TABLE_ROWS and removed > kept:
            # Reading a whole table to keep most of it (a hash join's build side) is fine;
            # reading it to throw most rows away is a missing index.
            yield f"Seq Scan on {relation} ({size:,} rows) keeps {kept:,}, removes {removed:,}"
        elif removed >= REMOVED_BY_FILTER_ROWS and removed > 10 * max(kept, 1):
            yield f"{_label(node)}: {removed:,} rows removed by filter for {kept:,} kept"
        if node.get("Sort Space Type") == "Disk":
            yield f"{_label(node)}: sort spilled to disk ({node.get('Sort Space Used')} kB)"
        # An Incremental Sort reports its spills per group kind instead.
        for groups in ("Full-sort Groups", "Pre-sorted Groups"):
            disk = node.get(groups, {}).get("Sort Space Disk", {})
            if disk.get("Peak Sort Space Used"):
                yield (
                    f"{_label(node)}: {groups.lower()} spilled to disk "
                    f"({disk['Peak Sort Space Used']} kB)"
                )
