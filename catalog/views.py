"""Catalog API: parse, call one selector or service, render."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from catalog import selectors, services
from catalog.filters import BookFilterSet
from catalog.models import Author, Book, Publisher
from catalog.querysets import BOOK_ROW_NEVER_FETCHES
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
    PublisherSerializer,
    book_detail_row,
    book_list_row,
    book_search_row,
)
from perf.budgets import query_budgets
from tenants.authentication import request_tenant
from tenants.permissions import IsOperator, IsOperatorOrReadOnly

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


# Query budgets, exact and as production counts them (BEGIN/COMMIT never count; see
# perf.budgets). "Authentication" is the token look-up; its occasional last-used stamp
# is not part of the steady state a budget describes.


@query_budgets(
    # Authentication, COUNT, the page (genres folded into its rows). A cursor page has no
    # COUNT.
    GET=1 + 1 + 1,
    # Authentication; author, publisher and genre checks; the INSERT in its own savepoint
    # pair (an ISBN clash becomes a 409); genre links: delete and insert; the search
    # document; then the book and its genres for the response.
    POST=1 + 3 + 3 + 2 + 1 + 2,
    never_fetches=BOOK_ROW_NEVER_FETCHES,
)
class BookListCreateApi(GenericAPIView):
    permission_classes = [IsOperatorOrReadOnly]
    filterset_class = BookFilterSet
    cursor_pagination = True
    queryset = Book.objects.none()  # model for schema introspection only; never evaluated

    @extend_schema(
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
    def get(self, request: Request) -> Response:
        books = self.filter_queryset(selectors.book_list(tenant=request_tenant(request)))
        page = self.paginate_queryset(books)
        return self.get_paginated_response([book_list_row(book) for book in page])

    @extend_schema(
        operation_id="books_create",
        summary="Add a book (operators)",
        request=BookCreateSerializer,
        responses={
            201: BookDetailSerializer,
            409: OpenApiResponse(description="`isbn_taken`: the ISBN is already in use."),
        },
    )
    def post(self, request: Request) -> Response:
        params = BookCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        tenant = request_tenant(request)
        book = services.book_create(tenant=tenant, **params.validated_data)
        book = selectors.book_get(tenant=tenant, book_id=book.id)
        return Response(book_detail_row(book), status=status.HTTP_201_CREATED)


@query_budgets(
    # Authentication, the book (author and publisher joined), its genres.
    GET=1 + 1 + 1,
    # As the create, with the UPDATE in the savepoint pair instead of the INSERT.
    PATCH=1 + 3 + 3 + 2 + 1 + 2,
    # Authentication; the row lock; Django's delete: collect the book, the PROTECT check
    # on order items, the cascade to genre links, the book itself.
    DELETE=1 + 1 + 4,
)
class BookDetailApi(GenericAPIView):
    permission_classes = [IsOperatorOrReadOnly]
    pagination_class = None
    filter_backends = ()

    @extend_schema(operation_id="books_retrieve", responses=BookDetailSerializer)
    def get(self, request: Request, book_id: uuid.UUID) -> Response:
        book = selectors.book_get(tenant=request_tenant(request), book_id=book_id)
        return Response(book_detail_row(book))

    @extend_schema(
        operation_id="books_partial_update",
        summary="Change a book (operators)",
        request=BookUpdateSerializer,
        responses={
            200: BookDetailSerializer,
            409: OpenApiResponse(description="`isbn_taken`: the ISBN is already in use."),
        },
    )
    def patch(self, request: Request, book_id: uuid.UUID) -> Response:
        params = BookUpdateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        tenant = request_tenant(request)
        services.book_update(tenant=tenant, book_id=book_id, **params.validated_data)
        book = selectors.book_get(tenant=tenant, book_id=book_id)
        return Response(book_detail_row(book))

    @extend_schema(
        operation_id="books_destroy",
        summary="Remove a book (operators)",
        responses={
            204: None,
            409: OpenApiResponse(description="`book_in_use`: orders refer to the book."),
        },
    )
    def delete(self, request: Request, book_id: uuid.UUID) -> Response:
        services.book_delete(tenant=request_tenant(request), book_id=book_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SearchParamsSerializer(serializers.Serializer):
    q = serializers.CharField(
        max_length=200,
        help_text='websearch syntax: words, "quoted phrases", OR, -excluded.',
    )


@query_budgets(
    GET=1 + 1 + 1,  # authentication, COUNT, the ranked page
    never_fetches=BOOK_ROW_NEVER_FETCHES,
)
class BookSearchApi(GenericAPIView):
    filter_backends = ()

    @extend_schema(
        operation_id="books_search",
        summary="Ranked full-text search",
        description=(
            "Matches title (weight A), author name (B) and description (C) with "
            "`websearch_to_tsquery('english', q)`, best `ts_rank` first."
        ),
        parameters=[SearchParamsSerializer],
        responses=BookSearchResultSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        params = SearchParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        books = selectors.book_search(
            tenant=request_tenant(request), text=params.validated_data["q"]
        )
        page = self.paginate_queryset(books)
        return self.get_paginated_response([book_search_row(book) for book in page])


def _import_errors(errors: Any) -> Any:
    """Per-row report: ``{"rows": {"<index>": {field: [messages]}}}``, failed rows only.

    DRF keys a list serializer's row errors by row index; errors about the request as a
    whole (not an array, too many rows) come as ``non_field_errors`` and pass through.
    """
    if isinstance(errors, dict) and errors and all(isinstance(k, int) for k in errors):
        return {"rows": {str(i): errors[i] for i in sorted(errors)}}
    return errors


class BulkImportParamsSerializer(serializers.Serializer):
    enrich = serializers.BooleanField(
        default=False,
        help_text=(
            "Also fetch each book's cover, page count and subjects from the book-metadata "
            "service (`BOOK_METADATA_URL`), after the import is saved. The import never "
            "fails because of it: `enrichment` reports what was not enriched."
        ),
    )


@query_budgets(
    # Authentication; the tenant's import lock; authors, publishers, genres looked up by
    # name (each kind missing a name adds its INSERT); existing books locked in id order,
    # updated, the new ones inserted; genre links: delete and insert; search documents.
    # With ?enrich=1, once the service answered about any book: +2 (those books locked in
    # id order, one UPDATE), whatever the number of rows; +0 when none was answered.
    POST=1 + 1 + 3 + 3 + 2 + 1,
)
class BookBulkImportApi(GenericAPIView):
    permission_classes = [IsOperator]
    pagination_class = None
    filter_backends = ()

    @extend_schema(
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
    def post(self, request: Request) -> Response:
        params = BulkImportParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        rows = BookImportSerializer(data=request.data)
        if not rows.is_valid():
            raise ValidationError(_import_errors(rows.errors))
        tenant = request_tenant(request)
        result = services.books_bulk_upsert(
            tenant=tenant,
            rows=[services.BookImportRow(**row) for row in rows.validated_data],
        )
        enrichment = None
        if params.validated_data["enrich"]:
            # After the import's transaction has committed: no lock is held while the
            # service is waited on.
            enrichment = services.books_metadata_enrich(
                tenant=tenant, book_ids={book.isbn: book.id for book in result.books}
            )
        body = {
            "created": result.created,
            "updated": result.updated,
            "books": result.books,
            "enrichment": enrichment,
        }
        return Response(BookImportResultSerializer(body).data)


def _ndjson(rows: Iterable[tuple[Any, ...]], lines_per_chunk: int = 500) -> Iterator[bytes]:
    """Book lines, then the trailer ``{"complete": true, "count": N}``: written only once the
    cursor is exhausted, so a body without it was cut off (the client cannot otherwise tell,
    the 200 went out with the headers)."""
    buffer: list[bytes] = []
    count = 0
    for pk, isbn, title, price, stock, published_on, author, publisher, genres, desc in rows:
        buffer.append(
            orjson.dumps(
                {
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
            )
        )
        count += 1
        if len(buffer) == lines_per_chunk:
            yield b"\n".join(buffer) + b"\n"
            buffer.clear()
    buffer.append(orjson.dumps({"complete": True, "count": count}))
    yield b"\n".join(buffer) + b"\n"


def _bound_body_writes(request: Request, seconds: int) -> None:
    """Under gunicorn, each write of the body gives up after ``seconds`` (a socket timeout
    covers a whole ``sendall``): a client that stops reading makes the send fail, gunicorn
    closes the connection and the thread is free. Other servers: no effect."""
    sock = request.META.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(seconds)


@query_budgets(
    # Authentication, then one server-side cursor inside a transaction and its SET LOCAL
    # timeouts. The cursor runs while the body streams, after X-Query-Count (1) is sent.
    GET=1 + 1 + 1,
)
class BookExportApi(GenericAPIView):
    pagination_class = None
    filter_backends = ()

    @extend_schema(
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
    def get(self, request: Request) -> StreamingHttpResponse:
        _bound_body_writes(request, settings.EXPORT_SEND_TIMEOUT)
        rows = selectors.book_export_rows(tenant=request_tenant(request))
        response = StreamingHttpResponse(_ndjson(rows), content_type="application/x-ndjson")
        response["Content-Disposition"] = 'attachment; filename="books.ndjson"'
        return response


@query_budgets(
    GET=1 + 1 + 1,  # authentication, COUNT, the page
)
class AuthorListApi(GenericAPIView):
    cursor_pagination = True
    filter_backends = ()
    queryset = Author.objects.none()  # model for schema introspection only

    @extend_schema(operation_id="authors_list", responses=AuthorSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.author_list(tenant=request_tenant(request)))
        return self.get_paginated_response(AuthorSerializer(page, many=True).data)


@query_budgets(
    GET=1 + 1,  # authentication, the row
)
class AuthorDetailApi(GenericAPIView):
    pagination_class = None
    filter_backends = ()

    @extend_schema(operation_id="authors_retrieve", responses=AuthorSerializer)
    def get(self, request: Request, author_id: uuid.UUID) -> Response:
        author = selectors.author_get(tenant=request_tenant(request), author_id=author_id)
        return Response(AuthorSerializer(author).data)


@query_budgets(
    GET=1 + 1 + 1,  # authentication, COUNT, the page
)
class PublisherListApi(GenericAPIView):
    cursor_pagination = True
    filter_backends = ()
    queryset = Publisher.objects.none()  # model for schema introspection only

    @extend_schema(operation_id="publishers_list", responses=PublisherSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.publisher_list(tenant=request_tenant(request)))
        return self.get_paginated_response(PublisherSerializer(page, many=True).data)


@query_budgets(
    GET=1 + 1,  # authentication, the row
)
class PublisherDetailApi(GenericAPIView):
    pagination_class = None
    filter_backends = ()

    @extend_schema(operation_id="publishers_retrieve", responses=PublisherSerializer)
    def get(self, request: Request, publisher_id: uuid.UUID) -> Response:
        publisher = selectors.publisher_get(
            tenant=request_tenant(request), publisher_id=publisher_id
        )
        return Response(PublisherSerializer(publisher).data)
