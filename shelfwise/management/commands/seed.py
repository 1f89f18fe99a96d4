from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from shelfwise import seeding
from shelfwise.progress import ProgressBar


class Command(BaseCommand):
    help = (
        "Seed the load-test tenant mix (100, 500, 5,000, 10,000 and 50,000 books) with "
        "authors, publishers, genres, users and past orders. Existing tenants of the mix "
        "are left alone unless --reset."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        parser.add_argument(
            "--scale",
            type=float,
            default=None,
            help="multiply every tenant's book count (e.g. 0.01 for tests; default 1)",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="delete the mix's tenants and all their rows first",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    def handle(self, *args: Any, **options: Any) -> None:
        scale_given = options["scale"] is not None
        scale = options["scale"] if scale_given else 1.0
        if not 0 < scale <= 10:
            raise CommandError("--scale must be greater than 0 and at most 10")
        if "tenants_tenant" not in connection.introspection.table_names():
            raise CommandError("the database has no schema yet: run `manage.py migrate` first")
        plan = seeding.SeedPlan(specs=seeding.TENANT_MIX, seed=options["seed"], scale=scale)
        started = time.perf_counter()

        if options["reset"]:
            deleted = seeding.tenants_delete(slugs=[s.slug for s in plan.specs])
            self.stdout.write(f"Reset: deleted {deleted} tenant(s) and their rows.")
            if deleted:
                self.stderr.write(
                    "  Their users and API tokens are gone too: tokens printed before (by "
                    "`demo` or `issue_token`) now answer 401. `demo` prints new ones."
                )
        existing = seeding.existing_slugs(plan.specs)

        progress = self._progress_factory(quiet=options["no_progress"])
        for position, spec in enumerate(plan.specs):
            if spec.slug in existing:
                plan.reports.append(seeding.TenantReport(slug=spec.slug, skipped=True))
                continue
            plan.reports.append(seeding.seed_tenant(plan, position, spec, progress))

        self.stderr.write("  ANALYZE ...")
        seeding.analyze()
        self._print_report(plan, time.perf_counter() - started)
        if scale_given:
            self._refuse_other_sizes(plan, existing)

    def _refuse_other_sizes(self, plan: seeding.SeedPlan, existing: set[str]) -> None:
        """An explicit --scale that existing tenants do not match was not carried out for
        them: say so and fail, rather than exit 0 having changed nothing."""
        sizes = seeding.book_counts(sorted(existing))
        other = [
            f"{spec.slug} has {sizes.get(spec.slug, 0):,} books (--scale {plan.scale:g} "
            f"makes {plan.books_for(spec):,})"
            for spec in plan.specs
            if spec.slug in existing and sizes.get(spec.slug, 0) != plan.books_for(spec)
        ]
        if other:
            raise CommandError(
                "left alone, at another size: " + "; ".join(other) + ". Add --reset to "
                "delete the mix's tenants (their users and tokens too) and reseed them."
            )

    def _progress_factory(self, *, quiet: bool) -> seeding.ProgressFactory:
        def factory(total: int, label: str) -> Callable[[int], None]:
            if quiet:
                return lambda n: None
            bar = ProgressBar(self.stderr._out, total, label)  # raw stream: no auto newline
            return bar.advance

        return factory

    def _print_report(self, plan: seeding.SeedPlan, seconds: float) -> None:
        header = ("tenant", "books", "authors", "publishers", "genres", "orders", "items")
        self.stdout.write(f"{header[0]:<22}" + "".join(f"{h:>11}" for h in header[1:]))
        for r in plan.reports:
            if r.skipped:
                self.stdout.write(f"{r.slug:<22}  exists, skipped (use --reset to reseed)")
                continue
            values = (r.books, r.authors, r.publishers, r.genres, r.orders, r.order_items)
            self.stdout.write(f"{r.slug:<22}" + "".join(f"{v:>11,}" for v in values))
        made = [r for r in plan.reports if not r.skipped]
        self.stdout.write(
            f"Seeded {len(made)} tenant(s), {sum(r.books for r in made):,} books "
            f"(seed {plan.seed}, scale {plan.scale:g}) in {seconds:.1f}s."
        )
