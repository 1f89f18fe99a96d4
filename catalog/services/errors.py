"""The catalog services' errors, each with its HTTP status (400 unless it names one)."""

from __future__ import annotations

from core.errors import ServiceError


class CatalogError(ServiceError):
    code = "catalog_error"


class CatalogReferenceError(CatalogError):
    """An author, publisher or genre id that this tenant does not have."""

    code = "unknown_reference"


class IsbnTakenError(CatalogError):
    code = "isbn_taken"
    status = 409


class BookInUseError(CatalogError):
    """Orders refer to the book, so it cannot be deleted."""

    code = "book_in_use"
    status = 409
