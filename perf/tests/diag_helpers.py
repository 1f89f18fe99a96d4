"""A helper layer between a caller and the ORM, for the call-site tests."""

from __future__ import annotations

from catalog.models import Author, Book


def titles_of(author: Author) -> list[str]:
    return list(
        Book.objects.for_tenant_id(author.tenant_id)
        .filter(author=author)
        .values_list("title", flat=True)
    )
