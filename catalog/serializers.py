"""Shapes only: plain serializers over what the selectors loaded; none of them queries."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

import orjson
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.isbn import ISBN_MAX_LENGTH, ISBN_PATTERN, isbn_clean, isbn_compact
from catalog.models import MAX_STOCK
from catalog.querysets import GENRE_LIST_ATTR

MONEY = {"max_digits": 10, "decimal_places": 2}
# A price as input: a string of at most 8 digits and 2 decimals, nothing else (no sign,
# exponent, spaces or JSON number). The schema publishes this very pattern.
MONEY_PATTERN = r"^[0-9]{1,8}(?:\.[0-9]{1,2})?$"
MAX_GENRES_PER_BOOK = 20
BULK_MAX_ROWS = 1000

_MONEY = re.compile(MONEY_PATTERN)


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers instead of turning 5 into "5": wrong types are
    client bugs worth a 400."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {"type": "string", "pattern": ISBN_PATTERN, "maxLength": ISBN_MAX_LENGTH, "minLength": 10}
)
class IsbnField(StrictCharField):
    """ISBN-10 or ISBN-13; hyphens and spaces are dropped before storing (no other
    whitespace: the schema's pattern says exactly what is accepted)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=ISBN_MAX_LENGTH, trim_whitespace=False, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        text = super().to_internal_value(data)
        if len(text) > ISBN_MAX_LENGTH:  # as sent: max_length alone sees the stripped value
            self.fail("max_length", max_length=ISBN_MAX_LENGTH)
        value = isbn_clean(text)
        if value is None:
            raise serializers.ValidationError("Not an ISBN-10 or ISBN-13.", code="invalid_isbn")
        return value


@extend_schema_field(
    {"type": "string", "format": "decimal", "pattern": MONEY_PATTERN, "example": "12.50"}
)
class MoneyField(serializers.DecimalField):
    """A non-negative price sent as a string matching MONEY_PATTERN."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**MONEY, min_value=0, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or not _MONEY.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


# --- Output ------------------------------------------------------------------------------


class _NamedSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    name = serializers.CharField(read_only=True)


# Each its own schema component (named after the class), with the same two fields.
class AuthorSerializer(_NamedSerializer):
    pass


class PublisherSerializer(_NamedSerializer):
    pass


class GenreSerializer(_NamedSerializer):
    pass


class BookListSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    title = serializers.CharField(read_only=True)
    isbn = serializers.CharField(read_only=True)
    price = serializers.DecimalField(**MONEY, read_only=True, coerce_to_string=True)
    stock = serializers.IntegerField(read_only=True)
    published_on = serializers.DateField(read_only=True, allow_null=True)
    author = AuthorSerializer(read_only=True)
    publisher = PublisherSerializer(read_only=True)
    # Served from the selector's genres prefetch (a plain list: Prefetch(to_attr=...)).
    genres = GenreSerializer(many=True, read_only=True, source=GENRE_LIST_ATTR)


class BookSearchResultSerializer(BookListSerializer):
    rank = serializers.FloatField(read_only=True, help_text="ts_rank of the match.")


class BookDetailSerializer(BookListSerializer):
    description = serializers.CharField(read_only=True)
    # From the book-metadata service; null until a lookup found them (catalog rows leave
    # them out: BOOK_ROW_NEVER_FETCHES).
    cover_url = serializers.CharField(read_only=True, allow_null=True)
    page_count = serializers.IntegerField(read_only=True, allow_null=True)
    subjects = serializers.ListField(child=serializers.CharField(), read_only=True, allow_null=True)


# The hot reads render their rows with these plain functions: the same dicts as the
# serializers above (tests compare them field by field), without DRF's per-field machinery
# (a Field object, get_attribute and to_representation for each of ~20 values per row).
# The serializers stay the schema. What that machinery cost: docs/performance.md,
# "catalog/serializers.py: the hand-written row renderers".

_CENTS = Decimal("0.01")
_MONEY_CONTEXT = Context(prec=MONEY["max_digits"], rounding=ROUND_HALF_EVEN)


def money_text(value: Decimal) -> str:
    """A price as DRF's DecimalField(decimal_places=2, coerce_to_string=True) writes it."""
    return f"{value.quantize(_CENTS, context=_MONEY_CONTEXT):f}"


def _named(obj: Any) -> dict[str, Any]:
    return {"id": str(obj.id), "name": obj.name}


def book_list_row(row: dict[str, Any]) -> dict[str, Any]:
    """BookListSerializer's output for a row of ``BookQuerySet.with_list_rows()``."""
    published_on = row["published_on"]
    return {
        "id": str(row["id"]),
        "title": row["title"],
        "isbn": row["isbn"],
        "price": money_text(row["price"]),
        "stock": row["stock"],
        "published_on": published_on.isoformat() if published_on else None,
        "author": {"id": str(row["author_id"]), "name": row["author_name"]},
        "publisher": {"id": str(row["publisher_id"]), "name": row["publisher_name"]},
        "genres": [
            {"id": str(genre_id), "name": name}
            for genre_id, name in zip(row["genre_ids"], row["genre_names"], strict=True)
        ],
    }


def book_search_row(row: dict[str, Any]) -> dict[str, Any]:
    """BookSearchResultSerializer's output for a row of a search."""
    out = book_list_row(row)
    out["rank"] = float(row["rank"])
    return out


def book_detail_row(book: Any) -> dict[str, Any]:
    """BookDetailSerializer's output for a book of the detail bundle (an instance)."""
    published_on = book.published_on
    return {
        "id": str(book.id),
        "title": book.title,
        "isbn": book.isbn,
        "price": money_text(book.price),
        "stock": book.stock,
        "published_on": published_on.isoformat() if published_on else None,
        "author": _named(book.author),
        "publisher": _named(book.publisher),
        "genres": [_named(genre) for genre in getattr(book, GENRE_LIST_ATTR)],
        "description": book.description,
        "cover_url": book.cover_url,
        "page_count": book.page_count,
        "subjects": book.subjects,
    }


# The schema of what book_export_line (below) renders. Its docstring is the published
# description, so it stays as the schema has always said it.
class BookExportLineSerializer(serializers.Serializer):
    """One NDJSON line of the export (documentation only: the export is rendered by hand)."""

    id = serializers.UUIDField()
    isbn = serializers.CharField()
    title = serializers.CharField()
    price = serializers.DecimalField(**MONEY, coerce_to_string=True)
    stock = serializers.IntegerField()
    published_on = serializers.DateField(allow_null=True)
    author = serializers.CharField()
    publisher = serializers.CharField()
    genres = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()


# The export's body: each row of ``BookQuerySet.export_rows()`` (a tuple) as a line of
# BookExportLineSerializer, then a trailer line.


def book_export_line(row: tuple[Any, ...]) -> dict[str, Any]:
    """BookExportLineSerializer's output for a row of the export."""
    pk, isbn, title, price, stock, published_on, author, publisher, genres, desc = row
    return {
        "id": pk,
        "isbn": isbn,
        "title": title,
        "price": f"{price:.2f}",
        "stock": stock,
        "published_on": published_on,
        "author": author,
        "publisher": publisher,
        "genres": genres,
        "description": desc,
    }


def book_export_ndjson(
    rows: Iterable[tuple[Any, ...]], lines_per_chunk: int = 500
) -> Iterator[bytes]:
    """Book lines, then the trailer ``{"complete": true, "count": N}``: written only once the
    cursor is exhausted, so a body without it was cut off (the client cannot otherwise tell,
    the 200 went out with the headers)."""
    buffer: list[bytes] = []
    count = 0
    for row in rows:
        buffer.append(orjson.dumps(book_export_line(row)))
        count += 1
        if len(buffer) == lines_per_chunk:
            yield b"\n".join(buffer) + b"\n"
            buffer.clear()
    buffer.append(orjson.dumps({"complete": True, "count": count}))
    yield b"\n".join(buffer) + b"\n"


# --- Input -------------------------------------------------------------------------------


class BookCreateSerializer(serializers.Serializer):
    title = StrictCharField(max_length=300)
    isbn = IsbnField()
    price = MoneyField()
    stock = serializers.IntegerField(min_value=0, max_value=MAX_STOCK, default=0)
    author_id = serializers.UUIDField()
    publisher_id = serializers.UUIDField()
    genre_ids = serializers.ListField(
        child=serializers.UUIDField(), max_length=MAX_GENRES_PER_BOOK, default=list
    )
    published_on = serializers.DateField(allow_null=True, default=None)
    description = StrictCharField(max_length=20_000, allow_blank=True, default="")


class BookUpdateSerializer(BookCreateSerializer):
    """PATCH: every field optional; only those sent change."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class BookImportRowSerializer(serializers.Serializer):
    isbn = IsbnField()
    title = StrictCharField(max_length=300)
    price = MoneyField()
    stock = serializers.IntegerField(
        min_value=0,
        max_value=MAX_STOCK,
        required=False,
        help_text="Copies in stock; left out, an existing book keeps its stock (new: 0).",
    )
    author = StrictCharField(max_length=200, help_text="Author name; created if new.")
    publisher = StrictCharField(max_length=200, help_text="Publisher name; created if new.")
    genres = serializers.ListField(
        child=StrictCharField(max_length=100),
        max_length=MAX_GENRES_PER_BOOK,
        required=False,
        help_text="Genre names, created if new; when given they replace the book's genres.",
    )
    published_on = serializers.DateField(
        allow_null=True,
        required=False,
        help_text="Left out, an existing book keeps its date; null clears it.",
    )
    description = StrictCharField(
        max_length=20_000,
        allow_blank=True,
        required=False,
        help_text="Left out, an existing book keeps its description.",
    )

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        value["published_on_given"] = "published_on" in value
        return value


class SearchParamsSerializer(serializers.Serializer):
    q = serializers.CharField(
        max_length=200,
        help_text='websearch syntax: words, "quoted phrases", OR, -excluded.',
    )


class BulkImportParamsSerializer(serializers.Serializer):
    enrich = serializers.BooleanField(
        default=False,
        help_text=(
            "Also fetch each book's cover, page count and subjects from the book-metadata "
            "service (`BOOK_METADATA_URL`), after the import is saved. The import never "
            "fails because of it: `enrichment` reports what was not enriched."
        ),
    )


def _isbn_key(row: Any) -> str | None:
    isbn = row.get("isbn") if isinstance(row, dict) else None
    return isbn_compact(isbn) if isinstance(isbn, str) else None


class BookImportSerializer(serializers.ListSerializer):
    """The whole import: up to BULK_MAX_ROWS rows, ISBNs unique within the request.

    Errors are keyed by row index (DRF's own shape for list serializers); a repeated ISBN
    is reported on the later rows together with every other row error.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("child", BookImportRowSerializer())
        kwargs.setdefault("min_length", 1)
        kwargs.setdefault("max_length", BULK_MAX_ROWS)
        super().__init__(*args, **kwargs)

    @staticmethod
    def _duplicates(rows: list[Any]) -> dict[int, dict[str, list[str]]]:
        first_row: dict[str, int] = {}
        errors: dict[int, dict[str, list[str]]] = {}
        for index, row in enumerate(rows):
            key = _isbn_key(row)
            if key is None:
                continue
            seen = first_row.setdefault(key, index)
            if seen != index:
                errors[index] = {"isbn": [f"Duplicate of row {seen} in this request."]}
        return errors

    def to_internal_value(self, data: Any) -> list[dict[str, Any]]:
        try:
            rows = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail
            if isinstance(detail, dict) and all(isinstance(k, int) for k in detail):
                for index, errors in self._duplicates(data).items():
                    detail.setdefault(index, {}).update(errors)  # type: ignore[union-attr]
                raise serializers.ValidationError(dict(sorted(detail.items()))) from None
            raise
        if duplicates := self._duplicates(rows):
            raise serializers.ValidationError(duplicates)
        return rows


class BookImportResultRowSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    isbn = serializers.CharField()
    created = serializers.BooleanField(help_text="False: an existing book was updated.")


class BookEnrichmentReportSerializer(serializers.Serializer):
    enriched = serializers.IntegerField(help_text="Books that got the service's data.")
    not_found = serializers.ListField(
        child=serializers.CharField(), help_text="ISBNs the service does not know."
    )
    failed = serializers.ListField(
        child=serializers.CharField(),
        help_text="ISBNs without a usable answer (service failing, slow or disabled).",
    )
    skipped_reason = serializers.ChoiceField(
        choices=["disabled", "circuit_open", "deadline"],
        allow_null=True,
        help_text="Why some books were not even asked about; null when all were.",
    )


class BookImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    books = BookImportResultRowSerializer(many=True)
    enrichment = BookEnrichmentReportSerializer(
        allow_null=True, help_text="With `?enrich=1` only; null otherwise."
    )
