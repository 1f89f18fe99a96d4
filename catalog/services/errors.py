"""The catalog services' errors; shelfwise.http.errors maps each to an HTTP status."""

from __future__ import annotations

from core.errors import ServiceError


class CatalogError(ServiceError):
    code = "catalog_error"


class CatalogReferenceError(CatalogError):
    """An author, publisher or genre id that this tenant does not have."""

    code = "unknown_reference"


class IsbnTakenError(CatalogError):
    code = "isbn_taken"


class BookInUseError(CatalogError):
    """Orders refer to the book, so it cannot be deleted."""

    code = "book_in_use"
