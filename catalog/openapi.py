"""What the published schema says about the catalog's operations: one named decorator each
(``@openapi.BOOKS_LIST`` in catalog.views), so that the views read as the endpoints."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)

from catalog.serializers import (
    BULK_MAX_ROWS,
    AuthorSerializer,
    BookCreateSerializer,
    BookDetailSerializer,
    BookExportLineSerializer,
    BookImportResultSerializer,
    BookImportSerializer,
    BookListSerializer,
    BookSearchResultSerializer,
    BookUpdateSerializer,
    BulkImportParamsSerializer,
    PublisherSerializer,
    SearchParamsSerializer,
)

BOOK_EXAMPLE = {
    "id": "5f0c6f4e-8a3b-4d8e-9a55-0f3f1b2c9d10",
    "title": "The Quiet Harbour",
    "isbn": "9780306406157",
    "price": "12.50",
    "stock": 7,
    "published_on": "2021-03-14",
    "author": {"id": "0b9a4a4e-1c1f-4e0e-8f6a-2a7f5d1e3c21", "name": "Ada Finch"},
    "publisher": {"id": "7d3e2b1a-5c4d-4f6e-9a8b-1c2d3e4f5a6b", "name": "North Press"},
    "genres": [{"id": "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f", "name": "Mystery"}],
}
ISBN_TAKEN = OpenApiResponse(description="`isbn_taken`: the ISBN is already in use.")

BOOKS_LIST = extend_schema(
    operation_id="books_list",
    summary="Catalog page",
    description=(
        "Ordered by title (id breaks ties) unless `ordering` says otherwise. "
        "`?page=&limit=` gives numbered pages with an exact `count`; `?cursor=` gives "
        "keyset pages that cost the same at any depth."
    ),
    responses=BookListSerializer(many=True),
    examples=[
        OpenApiExample("A catalog row", value=BOOK_EXAMPLE, response_only=True),
    ],
)

BOOKS_CREATE = extend_schema(
    operation_id="books_create",
    summary="Add a book (operators)",
    request=BookCreateSerializer,
    responses={201: BookDetailSerializer, 409: ISBN_TAKEN},
)

BOOKS_RETRIEVE = extend_schema(operation_id="books_retrieve", responses=BookDetailSerializer)

BOOKS_PARTIAL_UPDATE = extend_schema(
    operation_id="books_partial_update",
    summary="Change a book (operators)",
    request=BookUpdateSerializer,
    responses={200: BookDetailSerializer, 409: ISBN_TAKEN},
)

BOOKS_DESTROY = extend_schema(
    operation_id="books_destroy",
    summary="Remove a book (operators)",
    responses={
        204: None,
        409: OpenApiResponse(description="`book_in_use`: orders refer to the book."),
    },
)

BOOKS_SEARCH = extend_schema(
    operation_id="books_search",
    summary="Ranked full-text search",
    description=(
        "Matches title (weight A), author name (B) and description (C) with "
        "`websearch_to_tsquery('english', q)`, best `ts_rank` first."
    ),
    parameters=[SearchParamsSerializer],
    responses=BookSearchResultSerializer(many=True),
)

BOOKS_BULK_IMPORT = extend_schema(
    operation_id="books_bulk_import",
    summary=f"Import up to {BULK_MAX_ROWS} books (operators)",
    description=(
        f"A JSON array of at most {BULK_MAX_ROWS} rows. Books are matched by ISBN: "
        "new ones are created, existing ones updated. Authors, publishers and genres "
        "are matched by name and created when missing. All or nothing: any invalid "
        "row fails the whole request with a 400 whose `details.rows` maps each bad "
        "row's index to its errors. With `?enrich=1`, the saved books are then "
        "looked up by ISBN in the book-metadata service; `enrichment` reports the "
        "outcome (`skipped_reason: disabled` when no service is configured)."
    ),
    parameters=[BulkImportParamsSerializer],
    request=BookImportSerializer(),
    responses={200: BookImportResultSerializer},
    examples=[
        OpenApiExample(
            "Two rows",
            value=[
                {
                    "isbn": "9780306406157",
                    "title": "The Quiet Harbour",
                    "price": "12.50",
                    "stock": 7,
                    "author": "Ada Finch",
                    "publisher": "North Press",
                    "genres": ["Mystery"],
                },
                {
                    "isbn": "0-306-40615-2",
                    "title": "Salt Roads",
                    "price": "9.99",
                    "author": "Ada Finch",
                    "publisher": "North Press",
                },
            ],
            request_only=True,
        ),
        OpenApiExample(
            "A bad row",
            value={
                "error": {
                    "code": "invalid",
                    "message": "Invalid input.",
                    "details": {
                        "rows": {"1": {"price": ["Ensure this value is >= 0."]}},
                    },
                }
            },
            response_only=True,
            status_codes=["400"],
        ),
    ],
)

BOOKS_EXPORT = extend_schema(
    operation_id="books_export",
    summary="The whole catalog as NDJSON, streamed",
    description=(
        "One JSON object per line, in catalog order, streamed from a server-side "
        "cursor: memory stays flat and the query count constant whatever the size. "
        'The last line is the trailer `{"complete": true, "count": N}` (N book lines), '
        "written only when every book has been sent: a body that ends without it was "
        "cut off (the status, 200, was sent first), so discard it and export again. "
        "The chunked body of a cut export also lacks its terminating chunk. A client "
        "must keep reading: when a piece of the body (500 lines) cannot be handed to "
        "it within `EXPORT_SEND_TIMEOUT` seconds (default 30), it is disconnected."
    ),
    responses={(200, "application/x-ndjson"): BookExportLineSerializer},
)

# Authors and publishers share their views' code (catalog.views' named lists and
# details); these class decorators give each its own operations.
AUTHORS_LIST = extend_schema_view(
    get=extend_schema(operation_id="authors_list", responses=AuthorSerializer(many=True))
)
AUTHORS_RETRIEVE = extend_schema_view(
    get=extend_schema(operation_id="authors_retrieve", responses=AuthorSerializer)
)
PUBLISHERS_LIST = extend_schema_view(
    get=extend_schema(operation_id="publishers_list", responses=PublisherSerializer(many=True))
)
PUBLISHERS_RETRIEVE = extend_schema_view(
    get=extend_schema(operation_id="publishers_retrieve", responses=PublisherSerializer)
)
