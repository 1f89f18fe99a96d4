"""EXPLAIN (ANALYZE, BUFFERS, VERBOSE) of what the hot paths really run, with findings.

``run_captured()`` runs a registered hot path (the view, its selector, the real
paginator) and records every SELECT it sends with its parameters, where in the project it
was sent from, and whether it ran through a server-side cursor. ``explain()`` plans each
statement exactly so; a pagination or selector change therefore changes what is planned.

Findings, each naming the hot query, the plan node, the call site and the fix:

- a Sort over more than a page of rows (a page: the registration's ``page_rows`` and the
  one-row probe for the next page); the sort of a page's related rows, picked by the key
  list of the statement before (``= ANY(...)``, a prefetch), is bounded by that page;
- on a hot path registered as ``covering``: a scan other than an Index Only Scan that
  reads more than a page of rows;
- a plan node whose rows grow with the subject: planned for a subject at most half as big
  as well, the node reads more than ten pages and grows in proportion to the size (at
  least half as fast). Rows *read* (actual rows and rows filtered out, times loops) rather
  than estimated: under a LIMIT every index walk estimates the rows it would give if run
  to the end, which grows with any tenant, whereas the LIMIT stops it after a page. The
  input of a plain aggregate (a page's exact COUNT) is left out: it reads every match;
- a Seq Scan of a large table that throws most rows away, many rows removed by a filter,
  a sort that spilled to disk.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, transaction

from perf import sql as sqlmod
from perf.recording import QueryEvent, listening

# A table this big is worth an index for a selective filter. Smaller ones PostgreSQL reads
# whole faster than it probes an index for a page's keys (seen: 1,655 order items read by
# a Seq Scan for the items of 50 orders, with the order_id index there).
LARGE_TABLE_ROWS = 5_000
REMOVED_BY_FILTER_ROWS = 1_000
# A node that reads more than this many pages, growing with the subject, is a finding.
GROWTH_PAGES = 10

_SCANS = ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Tid Scan")
_SORTS = ("Sort", "Incremental Sort")


@dataclass(frozen=True)
class Statement:
    alias: str
    sql: str
    # A tuple, or a mapping for a statement written with %(name)s placeholders.
    params: tuple[Any, ...] | Mapping[str, Any]
    # Read through a server-side cursor (QuerySet.iterator()): PostgreSQL plans it for a
    # fast start (cursor_tuple_fraction), so it is planned through a cursor too.
    streamed: bool
    call_site: str | None


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
    call_site: str | None = None
    nodes: list[dict[str, Any]] = field(default_factory=list, repr=False)
    findings: list[str] = field(default_factory=list)


# Capturing ---------------------------------------------------------------------------------


@dataclass(eq=False)
class StatementCapture:
    """The listener: every SELECT a block sends, with its parameters, as it was sent."""

    statements: list[Statement] = field(default_factory=list)

    def notify(self, event: QueryEvent) -> None:
        if event.many or not sqlmod.is_select(event.sql):
            return
        raw = getattr(event.context.get("cursor"), "cursor", None)
        self.statements.append(
            Statement(
                alias=event.alias,
                sql=event.sql,
                params=(
                    dict(event.params)
                    if isinstance(event.params, Mapping)
                    else tuple(event.params or ())
                ),
                streamed=bool(getattr(raw, "name", None)),
                call_site=event.call_site,
            )
        )


@contextmanager
def capture() -> Iterator[list[Statement]]:
    """Record every SELECT the block sends, on every database, with its parameters."""
    capturing = StatementCapture()
    with listening(capturing):
        yield capturing.statements


def run_captured(prepare: Callable[[Any], Callable[[], object]], subject: Any) -> list[Statement]:
    """The statements one run of a hot path sends (not its preparation's look-ups); its
    writes, if any, are rolled back."""
    with transaction.atomic():
        serve = prepare(subject)
        with capture() as statements:
            serve()
        transaction.set_rollback(True)
    return statements


# Planning ----------------------------------------------------------------------------------


def explain(name: str, statement: Statement) -> PlanSummary:
    """The analysed plan of one captured statement, run as it was run (inside a rolled-back
    transaction: EXPLAIN ANALYZE executes it)."""
    prefix = "EXPLAIN (ANALYZE, BUFFERS, VERBOSE, FORMAT JSON) "
    if statement.streamed:
        # EXPLAIN accepts DECLARE, which needs no extra privilege; cursors need a
        # transaction.
        prefix += "DECLARE perf_explain NO SCROLL CURSOR FOR "
    using = statement.alias
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(prefix + statement.sql, statement.params)
        raw = cursor.fetchone()[0]
        transaction.set_rollback(True, using=using)
    doc = raw[0] if isinstance(raw, list) else raw
    plan = doc["Plan"]
    nodes = list(_walk(plan))
    return PlanSummary(
        name=name,
        sql=statement.sql,
        top_node=_label(plan),
        indexes=sorted({n["Index Name"] for n in nodes if "Index Name" in n}),
        actual_rows=int(plan.get("Actual Rows", 0)),
        shared_hit=int(plan.get("Shared Hit Blocks", 0)),
        shared_read=int(plan.get("Shared Read Blocks", 0)),
        planning_ms=float(doc.get("Planning Time", 0.0)),
        execution_ms=float(doc.get("Execution Time", 0.0)),
        node_types=[_label(n) for n in nodes],
        call_site=statement.call_site,
        nodes=nodes,
    )


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


def _loops(node: dict[str, Any]) -> int:
    return max(int(node.get("Actual Loops", 1)), 1)


def rows_read(node: dict[str, Any]) -> int:
    """Rows a node produced or looked at and threw away, over all its loops."""
    per_loop = int(node.get("Actual Rows", 0))
    for removed in ("Rows Removed by Filter", "Rows Removed by Index Recheck"):
        per_loop += int(node.get(removed, 0))
    return per_loop * _loops(node)


# Rules -------------------------------------------------------------------------------------


def table_sizes(relations: set[str], using: str = "default") -> dict[str, int]:
    if not relations:
        return {}
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT relname, GREATEST(reltuples, 0)::bigint FROM pg_class "
            "WHERE relkind = 'r' AND relname = ANY(%s)",
            [sorted(relations)],
        )
        return dict(cursor.fetchall())


def index_columns(index: str, using: str = "default") -> list[str]:
    """The columns an index holds, keys then INCLUDE columns."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT a.attname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE c.relname = %s ORDER BY k.n",
            [index],
        )
        return [row[0] for row in cursor.fetchall()]


def _where(summary: PlanSummary) -> str:
    return f" [sent from {summary.call_site}]" if summary.call_site else ""


def _first_relation(node: dict[str, Any]) -> dict[str, Any] | None:
    for n in _walk(node):
        if "Relation Name" in n:
            return n
    return None


def _keyed_by_list(node: dict[str, Any]) -> bool:
    """Rows picked by a list of keys (``= ANY(...)``): a page's related rows, as a
    prefetch selects them after the page."""
    return any(
        "= ANY" in "".join(str(n.get(k, "")) for k in ("Index Cond", "Recheck Cond", "Filter"))
        for n in _walk(node)
    )


def ranked_sorts(summary: PlanSummary, ranked_by: str) -> list[dict[str, Any]]:
    """The Sort nodes whose first key is a ``ranked_by(...)`` expression."""
    call = re.compile(rf"\b{re.escape(ranked_by)}\(")
    return [
        n
        for n in summary.nodes
        if n["Node Type"] in _SORTS and call.search(str((n.get("Sort Key") or [""])[0]))
    ]


def sort_findings(summary: PlanSummary, page_rows: int, ranked_by: str = "") -> Iterator[str]:
    bound = page_rows + 1  # a page and the probe row for the next one
    ranked = ranked_sorts(summary, ranked_by) if ranked_by else []
    for node in summary.nodes:
        if node["Node Type"] not in _SORTS or not node.get("Plans") or node in ranked:
            continue
        child = node["Plans"][0]
        sorted_rows = int(child.get("Actual Rows", 0))  # per loop: each loop sorts anew
        if sorted_rows <= bound or _keyed_by_list(child):
            continue
        keys = ", ".join(node.get("Sort Key", [])) or "?"
        scan = _first_relation(child)
        on = f" of {scan['Relation Name']}" if scan else ""
        yield (
            f"{summary.name}: {node['Node Type']} sorts {sorted_rows:,} rows{on} by ({keys}), "
            f"more than a page ({page_rows}){_where(summary)}. Fix: read the rows in that "
            "order from an index whose columns are the equality filter's (tenant_id) then "
            "the ORDER BY's, tie-break included, or order by an existing index's columns; "
            "only a LIMIT over an index in the ORDER BY's order stops after a page"
        )


def covering_findings(summary: PlanSummary, page_rows: int, using: str) -> Iterator[str]:
    bound = page_rows + 1
    for node in summary.nodes:
        # The walk that skips rows runs once; per-row lookups (loops) are the page's own.
        if (
            node["Node Type"] not in _SCANS
            or node["Node Type"] == "Index Only Scan"
            or _loops(node) > 1
        ):
            continue
        read = rows_read(node)
        if read <= bound:
            continue
        alias = node.get("Alias", node.get("Relation Name"))
        columns = sorted(
            {
                m.group(1)
                for text in [*node.get("Output", []), node.get("Filter", "")]
                for m in re.finditer(rf'(?<![\w"])"?{re.escape(str(alias))}"?\.(\w+)', str(text))
            }
        )
        index = node.get("Index Name")
        if index:
            held = index_columns(index, using)
            missing = [c for c in columns if c not in held]
            fix = (
                f"read only the index's columns ({', '.join(held)}) in this scan, the ids "
                "of a deferred join, and join the page's rows after it"
            )
            if missing:
                fix += f"; or add {', '.join(missing)} to {index} as INCLUDE ({', '.join(missing)})"
        else:
            fix = (
                "give the scan an index whose keys are the filter and ORDER BY columns and "
                f"INCLUDE the other columns it reads ({', '.join(columns) or '?'})"
            )
        yield (
            f"{summary.name}: {_label(node)} reads {read:,} table rows, more than a page "
            f"({page_rows}), on a hot path registered as covering: it must be an Index Only "
            f"Scan{_where(summary)}. Fix: {fix}"
        )


def growth_findings(
    large: PlanSummary,
    small: PlanSummary,
    page_rows: int,
    sizes: tuple[str, int, str, int],
) -> Iterator[str]:
    """Nodes of ``large`` whose rows read grow with the subject compared with ``small``,
    the same statement planned for a smaller subject; nodes are paired by label and
    occurrence."""
    large_key, large_size, small_key, small_size = sizes
    ratio = large_size / max(small_size, 1)
    paired = _by_label(small.nodes)
    counted = {
        id(n)
        for agg in large.nodes
        if agg["Node Type"] == "Aggregate" and agg.get("Strategy") == "Plain"
        for n in _walk(agg)
    }
    for key, node in _by_label(large.nodes).items():
        if id(node) in counted:
            # A plain aggregate (the page's exact COUNT) reads every match by definition;
            # what it costs is a contract question (count: null on cursor pages), not a plan.
            continue
        other = paired.get(key)
        if other is None and "Relation Name" in node:
            # The smaller subject's plan may read the table another way (a Bitmap Heap
            # Scan for an Index Scan): pair the scans of one table.
            other = _scans_of(small.nodes).get((node["Relation Name"], _nth_scan(large, node)))
        if other is None:
            continue
        read, read_small = rows_read(node), rows_read(other)
        if read <= GROWTH_PAGES * page_rows or read < 0.5 * ratio * max(read_small, 1):
            continue
        estimate = int(node.get("Plan Rows", 0))
        yield (
            f"{large.name}: {_label(node)} reads {read:,} rows for {large_key} (size "
            f"{large_size:,}) against {read_small:,} for {small_key} (size {small_size:,}), "
            f"estimated {estimate:,}: it grows with the subject, past {GROWTH_PAGES} pages "
            f"({page_rows} rows each){_where(large)}. Fix: bound what it reads by the page: "
            "an index that leads with the equality filters (tenant_id, ...) then the ORDER "
            "BY, so the LIMIT stops the scan after a page, and keyset pages for depth"
        )


def _scans_of(nodes: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for node in nodes:
        if "Relation Name" in node:
            n = sum(1 for relation, _ in out if relation == node["Relation Name"])
            out[(node["Relation Name"], n + 1)] = node
    return out


def _nth_scan(summary: PlanSummary, node: dict[str, Any]) -> int:
    """Which scan of its table ``node`` is, in plan order (1 for the first)."""
    for (_, n), scan in _scans_of(summary.nodes).items():
        if scan is node:
            return n
    return 0


def _by_label(nodes: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    seen: dict[str, int] = {}
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for node in nodes:
        label = _label(node)
        seen[label] = seen.get(label, 0) + 1
        out[(label, seen[label])] = node
    return out


def table_findings(summary: PlanSummary, sizes: dict[str, int]) -> Iterator[str]:
    for finding in _findings(summary.nodes, sizes):
        yield f"{summary.name}: {finding}{_where(summary)}"


def _findings(nodes: list[dict[str, Any]], sizes: dict[str, int]) -> Iterator[str]:
    for node in nodes:
        relation = node.get("Relation Name")
        loops = _loops(node)
        removed = int(node.get("Rows Removed by Filter", 0)) * loops
        kept = int(node.get("Actual Rows", 0)) * loops
        size = sizes.get(relation or "", 0)
        if node["Node Type"] == "Seq Scan":
            # Reading a whole table to keep most of it (a hash join's build side) is fine;
            # reading a large one to throw most rows away is a missing index.
            if size >= LARGE_TABLE_ROWS and removed > kept:
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
