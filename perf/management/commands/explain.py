from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from perf import explain as plans
from perf import sql
from perf.nplusone import allow_repeats
from perf.registry import HotQuery, hot_queries


class Command(BaseCommand):
    help = (
        "Run each hot path the apps register (their real views, selectors and paginator), "
        "EXPLAIN (ANALYZE, BUFFERS) every statement it sends, and flag sorts over more "
        "than a page, lost index-only scans, rows that grow with the tenant, Seq Scans on "
        "large tables, many rows removed by filters and sorts spilling to disk."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "subject_arg",
            nargs="?",
            metavar="SUBJECT",
            help="whose data to plan against, as --tenant says (explain --check my-tenant)",
        )
        parser.add_argument(
            "--subject",
            "--tenant",
            dest="subject",
            help="whose data to plan against (a tenant slug; default: the largest tenant)",
        )
        parser.add_argument(
            "--only",
            action="append",
            default=[],
            help="run only hot queries whose name contains this (repeatable)",
        )
        parser.add_argument(
            "--check", action="store_true", help="exit non-zero when anything is flagged"
        )
        parser.add_argument("--sql", action="store_true", help="print each statement")

    def handle(self, *args: Any, **options: Any) -> None:
        if not hot_queries.queries:
            raise CommandError("no hot queries are registered")
        if hot_queries.subject_loader is None:
            raise CommandError("no subject loader is registered")
        given, flag = options["subject_arg"], options["subject"]
        if given and flag and given != flag:
            raise CommandError(f"two subjects: {given!r} and --tenant {flag!r}; give one")
        key = (
            flag
            or given
            or (hot_queries.default_subject() if hot_queries.default_subject else None)
        )
        if not key:
            raise CommandError("no subject given and none found (is the database seeded?)")
        subject = self._load(key)
        comparison = hot_queries.comparison_subject(key)
        selected = [
            q
            for q in hot_queries.queries.values()
            if not options["only"] or any(o in q.name for o in options["only"])
        ]
        self.stdout.write(f"Plans for {key}:")
        if comparison is None:
            self.stdout.write("  (no subject half its size or smaller: growth not checked)")
        else:
            self.stdout.write(f"  (growth checked against {comparison[0]})")
        findings: list[str] = []
        # Every path runs for two subjects and each statement is planned: repeats by design.
        with allow_repeats("explain runs each hot path twice and plans its statements"):
            for hot in selected:
                findings += self._check(hot, key, subject, comparison, show_sql=options["sql"])
        if findings:
            message = f"{len(findings)} finding(s) in {len(selected)} hot queries:\n" + "\n".join(
                f"  ! {f}" for f in findings
            )
            if options["check"]:
                raise CommandError(message)
            self.stdout.write(self.style.WARNING(message))
        else:
            self.stdout.write(self.style.SUCCESS(f"No findings in {len(selected)} hot queries."))

    def _load(self, key: str) -> Any:
        assert hot_queries.subject_loader is not None
        try:
            return hot_queries.subject_loader(key)
        except LookupError as exc:
            raise CommandError(str(exc)) from None

    def _check(
        self,
        hot: HotQuery,
        key: str,
        subject: Any,
        comparison: tuple[str, int, int] | None,
        *,
        show_sql: bool,
    ) -> list[str]:
        statements = plans.run_captured(hot.prepare, subject)
        if not statements:
            return [f"{hot.name}: serving it ran no query (nothing was planned)"]
        summaries = [plans.explain(hot.name, s) for s in statements]
        findings: list[str] = []
        for statement, summary in zip(statements, summaries, strict=True):
            relations = {n["Relation Name"] for n in summary.nodes if "Relation Name" in n}
            sizes = plans.table_sizes(relations, statement.alias)
            summary.findings += plans.table_findings(summary, sizes)
            summary.findings += plans.sort_findings(summary, hot.page_rows, hot.ranked_by)
            if hot.covering:
                summary.findings += plans.covering_findings(summary, hot.page_rows, statement.alias)
        if hot.ranked_by and not any(plans.ranked_sorts(s, hot.ranked_by) for s in summaries):
            findings.append(
                f"{hot.name}: registered as ranked by {hot.ranked_by}(), but no plan sorts by "
                f"it: the ranking was lost, or the registration is stale (remove ranked_by)"
            )
        if comparison is not None and not hot.whole_subject:
            other_key, size, other_size = comparison
            smaller = plans.run_captured(hot.prepare, self._load(other_key))
            by_shape = {_shape(s): s for s in reversed(smaller)}  # the first of each shape
            for statement, summary in zip(statements, summaries, strict=True):
                twin = by_shape.get(_shape(statement))
                if twin is None or (hot.ranked_by and plans.ranked_sorts(summary, hot.ranked_by)):
                    continue
                summary.findings += plans.growth_findings(
                    summary,
                    plans.explain(hot.name, twin),
                    hot.page_rows,
                    (key, size, other_key, other_size),
                )
        for summary in summaries:
            self._print(summary, show_sql=show_sql)
            findings += summary.findings
        return findings

    def _print(self, s: plans.PlanSummary, *, show_sql: bool) -> None:
        status = self.style.ERROR("FLAG") if s.findings else self.style.SUCCESS(" ok ")
        self.stdout.write(
            f"[{status}] {s.name}: {s.top_node}; rows {s.actual_rows:,}; "
            f"buffers hit {s.shared_hit:,} read {s.shared_read:,}; "
            f"planning {s.planning_ms:.2f} ms, execution {s.execution_ms:.2f} ms"
        )
        if s.call_site:
            self.stdout.write(f"        from: {s.call_site}")
        self.stdout.write(f"        plan: {' > '.join(s.node_types)}")
        if s.indexes:
            self.stdout.write(f"        indexes: {', '.join(s.indexes)}")
        for finding in s.findings:
            self.stdout.write(f"        ! {finding}")
        if show_sql:
            self.stdout.write(f"        sql: {s.sql}")


def _shape(statement: plans.Statement) -> str:
    return sql.shape(statement.sql)
