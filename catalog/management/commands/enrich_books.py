from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog import selectors, services
from catalog.metadata import metadata_enabled
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Fill the cover, page count and subjects of a tenant's books from the book-metadata "
        "service (BOOK_METADATA_URL), in batches: each batch's calls run concurrently "
        "within the service's deadline, then one short transaction writes its answers. "
        "Books the service has already answered about are skipped unless --recheck. "
        "Progress goes to stderr, the summary to stdout. Stops early when the service's "
        "circuit breaker opens; running it again resumes where the answers stopped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant_slug")
        parser.add_argument(
            "--batch-size", type=int, default=200, help="books per batch (default 200)"
        )
        parser.add_argument(
            "--recheck", action="store_true", help="ask again about books already answered"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant_slug"]).first()
        if tenant is None:
            raise CommandError(f"no tenant with slug {options['tenant_slug']!r}")
        if not metadata_enabled():
            raise CommandError("enrichment is disabled: set BOOK_METADATA_URL")
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        recheck = options["recheck"]
        total = selectors.books_to_enrich_count(tenant=tenant, recheck=recheck)
        done = enriched = 0
        not_found: list[str] = []
        failed: list[str] = []
        stopped: str | None = None
        after_id: uuid.UUID | None = None
        while True:
            book_ids = selectors.books_to_enrich(
                tenant=tenant, after_id=after_id, limit=batch_size, recheck=recheck
            )
            if not book_ids:
                break
            after_id = max(book_ids.values())
            report = services.books_metadata_enrich(tenant=tenant, book_ids=book_ids)
            done += len(book_ids)
            enriched += report.enriched
            not_found += report.not_found
            failed += report.failed
            self.stderr.write(
                f"{done}/{total} books: {enriched} enriched, {len(not_found)} not found, "
                f"{len(failed)} failed"
            )
            if report.skipped_reason == "circuit_open":
                stopped = "the service keeps failing (circuit breaker open)"
                break
        summary = (
            f"{tenant.slug}: {enriched} enriched, {len(not_found)} not found, "
            f"{len(failed)} failed, {total - done} not tried, of {total}"
        )
        if stopped:
            summary += f"; stopped early: {stopped}"
        self.stdout.write(summary)
        if failed:
            self.stdout.write(
                "failed: " + " ".join(failed[:50]) + (" ..." if len(failed) > 50 else "")
            )
