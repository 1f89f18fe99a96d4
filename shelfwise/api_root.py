"""``GET /api/v2/``: the API's entry point, links to its collections."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from core.views import ApiView
from perf.budgets import query_budgets

# Link name -> URL name (catalog.urls, orders.urls).
LINKS = {
    "books": "book-list",
    "books_search": "book-search",
    "books_export": "book-export",
    "authors": "author-list",
    "publishers": "publisher-list",
    "orders": "order-list",
}


class ApiRootSerializer(serializers.Serializer):
    """Documentation only: the absolute URL of each collection."""

    books = serializers.URLField()
    books_search = serializers.URLField()
    books_export = serializers.URLField()
    authors = serializers.URLField()
    publishers = serializers.URLField()
    orders = serializers.URLField()


@query_budgets(
    GET=1,  # authentication only
)
class ApiRootApi(ApiView):
    """Authenticated like every API route: the token decides the tenant, and the links
    lead to that tenant's data."""

    @extend_schema(
        operation_id="api_root",
        summary="Links to the API's collections",
        responses=ApiRootSerializer,
    )
    def get(self, request: Request) -> Response:
        return Response(
            {name: request.build_absolute_uri(reverse(url)) for name, url in LINKS.items()}
        )
