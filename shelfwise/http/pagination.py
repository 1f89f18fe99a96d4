"""Page and keyset pagination, DRF's DEFAULT_PAGINATION_CLASS.

The apps never import this module (imports run from ``shelfwise`` to the apps): their views
pick it up through REST_FRAMEWORK settings. It must not import ``rest_framework.views``
(directly or through drf_spectacular): DRF resolves the setting that points here while its
view classes are being defined.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from typing import Any

import orjson
from django.db.models import F, Model, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from core.pages import DeferredPages

MAX_PAGE = 1_000_000
# Cursors are unpadded URL-safe base64 (of a small JSON object).
CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$"
_CURSOR = re.compile(CURSOR_PATTERN)


class PageParamsSerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=1)
    limit = serializers.IntegerField(min_value=1, default=50)

    def __init__(self, *args: Any, max_limit: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["limit"] = serializers.IntegerField(
            min_value=1, max_value=max_limit, default=PagePagination.default_limit
        )


class PagePagination(BasePagination):
    """``?page=&limit=`` pages with an exact count; ``?cursor=`` keyset pages on views that
    set ``cursor_pagination = True``.

    Keyset pages follow the queryset's own ordering, which must be ``(<field>, id)`` in one
    direction (an index on ``(tenant_id, <field>, id)`` serves it): the next page is
    ``WHERE (<field>, id) > (last values) LIMIT n``, the same cost at any depth. Both modes
    answer ``{count, next, previous, results}``; in cursor mode ``count`` is null (counting
    is exactly the cost that cursors avoid).
    """

    default_limit = 50
    max_limit = 100
    page_query_param = "page"
    limit_query_param = "limit"
    cursor_query_param = "cursor"

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any]:
        self.request = request
        self.count: int | None = None
        self.next_url: str | None = None
        self.previous_url: str | None = None
        params = self._params(request)
        limit = params["limit"]
        if self.cursor_query_param in request.query_params:
            if not getattr(view, "cursor_pagination", False):
                raise ValidationError({self.cursor_query_param: ["Not supported here."]})
            return self._keyset_page(queryset, request.query_params[self.cursor_query_param], limit)
        return self._numbered_page(queryset, params["page"], limit)

    def _params(self, request: Request) -> dict[str, int]:
        data = {
            key: request.query_params[key]
            for key in (self.page_query_param, self.limit_query_param)
            if key in request.query_params
        }
        params = PageParamsSerializer(data=data, max_limit=self.max_limit)
        params.is_valid(raise_exception=True)
        return {"page": params.validated_data["page"], "limit": params.validated_data["limit"]}

    def _numbered_page(self, queryset: QuerySet[Any], page: int, limit: int) -> list[Any]:
        self.count = queryset.count()
        offset = (page - 1) * limit
        if offset >= self.count:
            rows: list[Any] = []
        elif isinstance(queryset, DeferredPages):  # it reads its own pages (deep: deferred)
            rows = list(queryset.page(offset, limit))
        else:
            rows = list(queryset[offset : offset + limit])
        url = self.request.build_absolute_uri()
        url = replace_query_param(url, self.limit_query_param, limit)
        if offset + limit < self.count:
            self.next_url = replace_query_param(url, self.page_query_param, page + 1)
        if page > 1:
            last_page = max(1, -(-self.count // limit))
            self.previous_url = replace_query_param(
                url, self.page_query_param, min(page - 1, last_page)
            )
        return rows

    # Keyset pages ------------------------------------------------------------------------

    def _keyset_page(self, queryset: QuerySet[Any], token: str, limit: int) -> list[Any]:
        field, descending = _keyset_ordering(queryset)
        model_field = queryset.model._meta.get_field(field)
        backwards = False
        position: tuple[Any, Any] | None = None
        if token:
            backwards, position = _decode_cursor(token, model_field, queryset.model)
        # Walking backwards flips both the comparison and the ordering.
        ascending = descending == backwards
        if position is not None:
            lookup = TupleGreaterThan if ascending else TupleLessThan
            queryset = queryset.filter(lookup(Tuple(F(field), F("pk")), position))
        prefix = "" if ascending else "-"
        queryset = queryset.order_by(f"{prefix}{field}", f"{prefix}pk")
        rows = list(queryset[: limit + 1])
        has_more = len(rows) > limit
        rows = rows[:limit]
        if backwards:
            rows.reverse()
        base = remove_query_param(self.request.build_absolute_uri(), self.page_query_param)
        base = replace_query_param(base, self.limit_query_param, limit)
        if rows:
            if has_more or backwards:
                after = _encode_cursor(False, *_position(rows[-1], field, queryset.model))
                self.next_url = replace_query_param(base, self.cursor_query_param, after)
            if (has_more and backwards) or (position is not None and not backwards):
                before = _encode_cursor(True, *_position(rows[0], field, queryset.model))
                self.previous_url = replace_query_param(base, self.cursor_query_param, before)
        elif position is not None:
            # Walked off an end: offer the way back.
            back = _encode_cursor(not backwards, position[0], position[1])
            if backwards:
                self.next_url = replace_query_param(base, self.cursor_query_param, back)
            else:
                self.previous_url = replace_query_param(base, self.cursor_query_param, back)
        return rows

    def get_paginated_response(self, data: Sequence[Any]) -> Response:
        return Response(
            {
                "count": self.count,
                "next": self.next_url,
                "previous": self.previous_url,
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["count", "next", "previous", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "nullable": True,
                    "description": "Exact number of matches; null on cursor pages.",
                    "example": 123,
                },
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "example": "https://shelfwise.example/api/v2/books?limit=50&page=3",
                },
                "previous": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "example": "https://shelfwise.example/api/v2/books?limit=50&page=1",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "1-based page number (ignored with `cursor`).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
            },
            {
                "name": self.limit_query_param,
                "required": False,
                "in": "query",
                "description": f"Page size, at most {self.max_limit} (larger is a 400).",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_limit,
                    "default": self.default_limit,
                },
            },
        ]
        if getattr(view, "cursor_pagination", False):
            parameters.append(
                {
                    "name": self.cursor_query_param,
                    "required": False,
                    "in": "query",
                    "description": (
                        "Keyset pagination: pass an empty value for the first page, then "
                        "follow `next` / `previous`. Same cost at any depth; `count` is null. "
                        "A cursor the server did not issue is a 400."
                    ),
                    "schema": {"type": "string", "pattern": CURSOR_PATTERN},
                }
            )
        return parameters


def _keyset_ordering(queryset: QuerySet[Any]) -> tuple[str, bool]:
    """The (field, descending) of a queryset ordered by ``(<field>, id)`` in one direction."""
    ordering = list(queryset.query.order_by)
    if len(ordering) == 2:
        first, second = ordering
        descending = first.startswith("-")
        if second.lstrip("-") in {"id", "pk"} and second.startswith("-") == descending:
            return first.lstrip("-"), descending
    raise ValueError(f"keyset pagination needs an ordering of (<field>, id); got {ordering}")


def _position(row: Any, field: str, model: type[Model]) -> tuple[Any, Any]:
    """The ordering value and primary key of a page's row: a model instance, or a dict
    from ``values()`` (which names the primary key by its column, ``id``)."""
    if isinstance(row, dict):
        return row[field], row[model._meta.pk.attname]
    return getattr(row, field), row.pk


def _encode_cursor(backwards: bool, value: Any, pk: Any) -> str:
    raw = orjson.dumps({"b": backwards, "v": str(value), "id": str(pk)})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(token: str, model_field: Any, model: type[Model]) -> tuple[bool, Any]:
    invalid = ValidationError({"cursor": ["Invalid cursor."]}, code="invalid_cursor")
    if not _CURSOR.fullmatch(token):  # b64decode would skip foreign characters
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        backwards = data["b"]
        # clean(), not to_python(): also the field's validators (max_digits, max_length),
        # so a doctored cursor cannot send PostgreSQL a value it rejects.
        value = model_field.clean(data["v"], None)
        if isinstance(value, str) and "\x00" in value:
            raise invalid
        pk = model._meta.pk.to_python(data["id"])
    except (binascii.Error, ValueError, TypeError, KeyError, orjson.JSONDecodeError):
        raise invalid from None
    except Exception as exc:  # Django's ValidationError from to_python()
        if type(exc).__name__ == "ValidationError":
            raise invalid from None
        raise
    if not isinstance(backwards, bool) or value is None:
        raise invalid
    return backwards, (value, pk)
