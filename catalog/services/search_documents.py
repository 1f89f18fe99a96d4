"""The full-text search document of books: title (A), author's name (B), description (C).

It spans the author table, so every write that changes one of those calls this module."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db import connection

from perf.locks import takes_locks
from tenants.models import Tenant

# Title weighs most, then the author's name, then the description. Keep in step with the
# query side (catalog search) which uses the same 'english' configuration.
_SEARCH_DOCUMENT_SQL = """
UPDATE catalog_book AS b
SET search_document =
      setweight(to_tsvector('english', b.title), 'A')
   || setweight(to_tsvector('english', a.name), 'B')
   || setweight(to_tsvector('english', b.description), 'C')
FROM catalog_author AS a
WHERE a.id = b.author_id AND b.tenant_id = %s AND a.tenant_id = %s
"""


@takes_locks()
def book_search_documents_refresh(
    *, tenant: Tenant, book_ids: Sequence[uuid.UUID] | None = None
) -> int:
    """Recompute the full-text document of the tenant's books (all, or ``book_ids``).

    One UPDATE whatever the number of books. Returns the number of rows updated.
    """
    sql = _SEARCH_DOCUMENT_SQL
    params: list[Any] = [tenant.id, tenant.id]
    if book_ids is not None:
        sql += " AND b.id = ANY(%s)"
        params.append(list(book_ids))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


_AUTHOR_SEARCH_DOCUMENTS_SQL = _SEARCH_DOCUMENT_SQL + " AND a.id = %s"


@takes_locks()
def author_search_documents_refresh(*, tenant: Tenant, author_id: uuid.UUID) -> int:
    """Recompute the documents of one author's books (after a rename), in one UPDATE."""
    with connection.cursor() as cursor:
        cursor.execute(_AUTHOR_SEARCH_DOCUMENTS_SQL, [tenant.id, tenant.id, author_id])
        return int(cursor.rowcount)
