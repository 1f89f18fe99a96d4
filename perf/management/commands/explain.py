from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from perf.explain import PlanSummary, explain
from perf.registry import hot_queries


class Command(BaseCommand):
    help = (
        "EXPLAIN (ANALYZE, BUFFERS) the hot queries that the apps register, built by their "
        "real selectors, and flag Seq Scans on large tables, many rows removed by filters "
        "and sorts spilling to disk."
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
        parser.add_argument("--database", default="default")

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
        try:
            subject = hot_queries.subject_loader(key)
        except LookupError as exc:
            raise CommandError(str(exc)) from None

        selected = [
            q
            for q in hot_queries.queries.values()
            if not options["only"] or any(o in q.name for o in options["only"])
        ]
        self.stdout.write(f"Plans for {key}:")
        flagged = 0
        for hot in selected:
            summary = explain(
                hot.name, hot.build(subject), using=options["database"], streamed=hot.streamed
            )
            self._print(summary, show_sql=options["sql"])
            flagged += len(summary.findings)
        if flagged:
            message = f"{flagged} finding(s) in {len(selected)} hot queries"
            if options["check"]:
                raise CommandError(message)
            self.stdout.write(self.style.WARNING(message))
        else:
            self.stdout.write(self.style.SUCCESS(f"No findings in {len(selected)} hot queries."))

    def _print(self, s: PlanSummary, *, show_sql: bool) -> None:
        status = self.style.ERROR("FLAG") if s.findings else self.style.SUCCESS(" ok ")
        self.stdout.write(
            f"[{status}] {s.name}: {s.top_node}; rows {s.actual_rows:,}; "
            f"buffers hit {s.shared_hit:,} read {s.shared_read:,}; "
            f"planning {s.planning_ms:.2f} ms, execution {s.execution_ms:.2f} ms"
        )
        self.stdout.write(f"        plan: {' > '.join(s.node_types)}")
        if s.indexes:
            self.stdout.write(f"        indexes: {', '.join(s.indexes)}")
        for finding in s.findings:
            self.stdout.write(f"        ! {finding}")
        if show_sql:
            self.stdout.write(f"        sql: {s.sql}")
