"""Writes for the catalog, one module per concern; the public names are re-exported here,
so callers import ``catalog.services`` whatever module holds a service.

- ``books``: one book or author at a time (create, update, delete, rename);
- ``bulk_import``: the onboarding import, upsert by ISBN;
- ``bulk_edits``: the operators' reprice and restock;
- ``stock``: the stock that orders take and cancellations put back;
- ``enrichment``: cover, page count and subjects from the book-metadata service;
- ``search_documents``: the full-text document every write above keeps in step;
- ``errors``: what they raise.
"""

from catalog.services.books import author_rename, book_create, book_delete, book_update
from catalog.services.bulk_edits import (
    REPRICE_PERCENT_MAX,
    REPRICE_PERCENT_MIN,
    RESTOCK_MAX,
    BulkEditError,
    books_reprice,
    books_restock,
)
from catalog.services.bulk_import import (
    BookImportOutcome,
    BookImportResult,
    BookImportRow,
    books_bulk_upsert,
)
from catalog.services.enrichment import (
    BookEnrichmentReport,
    books_metadata_enrich,
    books_metadata_save,
)
from catalog.services.errors import (
    BookInUseError,
    CatalogError,
    CatalogReferenceError,
    IsbnTakenError,
)
from catalog.services.search_documents import (
    author_search_documents_refresh,
    book_search_documents_refresh,
)
from catalog.services.stock import (
    OutOfStockError,
    book_stock_restore,
    book_stock_take,
    books_lock,
)

__all__ = [
    "REPRICE_PERCENT_MAX",
    "REPRICE_PERCENT_MIN",
    "RESTOCK_MAX",
    "BookEnrichmentReport",
    "BookImportOutcome",
    "BookImportResult",
    "BookImportRow",
    "BookInUseError",
    "BulkEditError",
    "CatalogError",
    "CatalogReferenceError",
    "IsbnTakenError",
    "OutOfStockError",
    "author_rename",
    "author_search_documents_refresh",
    "book_create",
    "book_delete",
    "book_search_documents_refresh",
    "book_stock_restore",
    "book_stock_take",
    "book_update",
    "books_bulk_upsert",
    "books_lock",
    "books_metadata_enrich",
    "books_metadata_save",
    "books_reprice",
    "books_restock",
]
