"""Catalog API: parse, call one selector or service, render."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from django.conf import settings
from django.http import StreamingHttpResponse
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from catalog import openapi, selectors, services
from catalog.filters import BookFilterSet
from catalog.models import Author, Book, Publisher
from catalog.querysets import BOOK_ROW_NEVER_FETCHES
from catalog.serializers import (
    AuthorSerializer,
    BookCreateSerializer,
    BookImportResultSerializer,
    BookImportSerializer,
    BookUpdateSerializer,
    BulkImportParamsSerializer,
    PublisherSerializer,
    SearchParamsSerializer,
    book_detail_row,
    book_export_ndjson,
    book_list_row,
    book_search_row,
)
from core.views import ApiView
from perf.budgets import query_budgets
from tenants.authentication import request_tenant
from tenants.permissions import IsOperator, IsOperatorOrReadOnly

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
class BookListCreateApi(ApiView):
    permission_classes = [IsOperatorOrReadOnly]
    filterset_class = BookFilterSet
    cursor_pagination = True
    schema_model = Book

    @openapi.BOOKS_LIST
    def get(self, request: Request) -> Response:
        books = self.filter_queryset(selectors.book_list(tenant=request_tenant(request)))
        return self.page_response(self.paginate_queryset(books), book_list_row)

    @openapi.BOOKS_CREATE
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
class BookDetailApi(ApiView):
    permission_classes = [IsOperatorOrReadOnly]

    @openapi.BOOKS_RETRIEVE
    def get(self, request: Request, book_id: uuid.UUID) -> Response:
        book = selectors.book_get(tenant=request_tenant(request), book_id=book_id)
        return Response(book_detail_row(book))

    @openapi.BOOKS_PARTIAL_UPDATE
    def patch(self, request: Request, book_id: uuid.UUID) -> Response:
        params = BookUpdateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        tenant = request_tenant(request)
        services.book_update(tenant=tenant, book_id=book_id, **params.validated_data)
        book = selectors.book_get(tenant=tenant, book_id=book_id)
        return Response(book_detail_row(book))

    @openapi.BOOKS_DESTROY
    def delete(self, request: Request, book_id: uuid.UUID) -> Response:
        services.book_delete(tenant=request_tenant(request), book_id=book_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


@query_budgets(
    GET=1 + 1 + 1,  # authentication, COUNT, the ranked page
    never_fetches=BOOK_ROW_NEVER_FETCHES,
)
class BookSearchApi(ApiView):
    paginated = True

    @openapi.BOOKS_SEARCH
    def get(self, request: Request) -> Response:
        params = SearchParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        books = selectors.book_search(
            tenant=request_tenant(request), text=params.validated_data["q"]
        )
        return self.page_response(self.paginate_queryset(books), book_search_row)


def _import_errors(errors: Any) -> Any:
    """Per-row report: ``{"rows": {"<index>": {field: [messages]}}}``, failed rows only.

    DRF keys a list serializer's row errors by row index; errors about the request as a
    whole (not an array, too many rows) come as ``non_field_errors`` and pass through.
    """
    if isinstance(errors, dict) and errors and all(isinstance(k, int) for k in errors):
        return {"rows": {str(i): errors[i] for i in sorted(errors)}}
    return errors


@query_budgets(
    # Authentication; the tenant's import lock; authors, publishers, genres looked up by
    # name (each kind missing a name adds its INSERT); existing books locked in id order,
    # updated, the new ones inserted; genre links: delete and insert; search documents.
    # With ?enrich=1, once the service answered about any book: +2 (those books locked in
    # id order, one UPDATE), whatever the number of rows; +0 when none was answered.
    POST=1 + 1 + 3 + 3 + 2 + 1,
)
class BookBulkImportApi(ApiView):
    permission_classes = [IsOperator]

    @openapi.BOOKS_BULK_IMPORT
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
class BookExportApi(ApiView):
    @openapi.BOOKS_EXPORT
    def get(self, request: Request) -> StreamingHttpResponse:
        _bound_body_writes(request, settings.EXPORT_SEND_TIMEOUT)
        rows = selectors.book_export_rows(tenant=request_tenant(request))
        response = StreamingHttpResponse(
            book_export_ndjson(rows), content_type="application/x-ndjson"
        )
        response["Content-Disposition"] = 'attachment; filename="books.ndjson"'
        return response


# Authors and publishers: the same two endpoints over a named thing (``{id, name}``), with
# the same budgets; each subclass names its selector, serializer and operations
# (catalog.openapi).


@query_budgets(
    GET=1 + 1 + 1,  # authentication, COUNT, the page
)
class _NamedListApi(ApiView):
    cursor_pagination = True
    list_rows: ClassVar[Callable[..., Any]]
    row_serializer: ClassVar[type[serializers.Serializer]]

    def get(self, request: Request) -> Response:
        rows = self.list_rows(tenant=request_tenant(request))
        return self.page_response(self.paginate_queryset(rows), self.row_serializer)


@query_budgets(
    GET=1 + 1,  # authentication, the row
)
class _NamedDetailApi(ApiView):
    get_row: ClassVar[Callable[..., Any]]
    row_serializer: ClassVar[type[serializers.Serializer]]

    def get(self, request: Request, **row_id: uuid.UUID) -> Response:
        row = self.get_row(tenant=request_tenant(request), **row_id)
        return Response(self.row_serializer(row).data)


@openapi.AUTHORS_LIST
class AuthorListApi(_NamedListApi):
    schema_model = Author
    list_rows = staticmethod(selectors.author_list)
    row_serializer = AuthorSerializer


@openapi.PUBLISHERS_LIST
class PublisherListApi(_NamedListApi):
    schema_model = Publisher
    list_rows = staticmethod(selectors.publisher_list)
    row_serializer = PublisherSerializer


@openapi.AUTHORS_RETRIEVE
class AuthorDetailApi(_NamedDetailApi):
    get_row = staticmethod(selectors.author_get)  # author_id=
    row_serializer = AuthorSerializer


@openapi.PUBLISHERS_RETRIEVE
class PublisherDetailApi(_NamedDetailApi):
    get_row = staticmethod(selectors.publisher_get)  # publisher_id=
    row_serializer = PublisherSerializer
