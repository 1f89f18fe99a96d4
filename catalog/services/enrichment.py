"""Books enriched from the book-metadata service (catalog.metadata): cover, page count,
subjects. The network calls come first, outside any transaction; then one short
transaction writes every answer in a fixed number of queries (the rows locked in id
order, one UPDATE), whatever the number of books."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
from django.db import connection, transaction

from catalog.metadata import MetadataFetch, metadata_fetch
from catalog.models import Book
from perf.locks import takes_locks
from tenants.models import Tenant


@dataclass(frozen=True, slots=True)
class BookEnrichmentReport:
    """``enriched`` books got the service's data; ``not_found`` ISBNs the service does not
    know; ``failed`` ones got no usable answer (ask again later); ``skipped_reason``:
    ``disabled``, ``circuit_open``, ``deadline`` or None (see MetadataFetch)."""

    enriched: int
    not_found: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped_reason: str | None = None


# Found books take the service's values; books it does not know keep theirs. Both are
# stamped as checked. Subjects are arrays per row, which unnest() would flatten: the rows
# travel as one JSON array instead, read by jsonb_to_recordset.
_SAVE_SQL = """
UPDATE catalog_book AS b SET
    cover_url = CASE WHEN r.found THEN r.cover_url ELSE b.cover_url END,
    page_count = CASE WHEN r.found THEN r.page_count ELSE b.page_count END,
    subjects = CASE WHEN r.found THEN r.subjects ELSE b.subjects END,
    metadata_checked_at = now()
FROM jsonb_to_recordset(%s::jsonb)
     AS r(id uuid, found boolean, cover_url text, page_count integer, subjects text[])
WHERE b.tenant_id = %s AND b.id = r.id
"""


def _no_open_transaction() -> None:
    """Waiting on the network inside a transaction would hold its row locks (and a
    pooled database connection) for as long as the service takes. The check Django's
    ``atomic(durable=True)`` makes: blocks opened by a test case do not count."""
    if any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks):
        raise RuntimeError("books_metadata_enrich must not run inside a transaction")


@takes_locks("catalog_book")
@transaction.atomic
def books_metadata_save(
    *, tenant: Tenant, book_ids: Mapping[str, uuid.UUID], fetch: MetadataFetch
) -> int:
    """Write what ``fetch`` brought for the books ``book_ids`` (ISBN to id) in two queries:
    the tenant's rows locked in id order, one UPDATE. None when there is nothing to write.
    Returns how many books were enriched (a book deleted meanwhile is not)."""
    answered = [isbn for isbn in book_ids if isbn in fetch.found or isbn in fetch.not_found]
    if not answered:
        return 0
    locked = set(
        Book.objects.for_tenant(tenant)
        .filter(pk__in=[book_ids[isbn] for isbn in answered])
        .lock_in_id_order()
        .values_list("pk", flat=True)
    )
    rows = []
    for isbn in answered:
        metadata = fetch.found.get(isbn)
        rows.append(
            {
                "id": str(book_ids[isbn]),
                "found": metadata is not None,
                "cover_url": metadata.cover_url if metadata else None,
                "page_count": metadata.page_count if metadata else None,
                "subjects": list(metadata.subjects) if metadata else None,
            }
        )
    with connection.cursor() as cursor:
        cursor.execute(_SAVE_SQL, [orjson.dumps(rows).decode(), tenant.id])
    return sum(1 for isbn in fetch.found if isbn in book_ids and book_ids[isbn] in locked)


@takes_locks("catalog_book")
def books_metadata_enrich(
    *, tenant: Tenant, book_ids: Mapping[str, uuid.UUID]
) -> BookEnrichmentReport:
    """Fetch the metadata of the books ``book_ids`` (ISBN to id), then save it. Never
    raises because the service failed: the report says what was not enriched.

    Precondition: no transaction is open (the calls may take up to the configured
    deadline, and no row lock may be held meanwhile)."""
    _no_open_transaction()
    fetch = metadata_fetch(list(book_ids))
    enriched = books_metadata_save(tenant=tenant, book_ids=book_ids, fetch=fetch)
    return BookEnrichmentReport(
        enriched=enriched,
        not_found=fetch.not_found,
        failed=fetch.failed,
        skipped_reason=fetch.skipped_reason,
    )
