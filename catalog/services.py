"""Writes for the catalog."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.db import connection

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


def book_search_documents_refresh(
    *, tenant: Tenant, book_ids: Sequence[uuid.UUID] | None = None
) -> int:
    """Recompute the full-text document of the tenant's books (all, or ``book_ids``).

    One UPDATE whatever the number of books. Returns the number of rows updated.
    """
    sql = _SEARCH_DOCUMENT_SQL
    params: list[object] = [tenant.id, tenant.id]
    if book_ids is not None:
        sql += " AND b.id = ANY(%s)"
        params.append(list(book_ids))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
