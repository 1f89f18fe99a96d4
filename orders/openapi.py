"""OpenAPI for placing, listing and cancelling orders; orders.views decorates each handler
with its constant here."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)

from orders.serializers import (
    IDEMPOTENCY_HEADER,
    REPLAYED_HEADER,
    OrderCreateSerializer,
    OrderSerializer,
)

ORDER_EXAMPLE = {
    "id": "3a1e2d4c-5b6f-4a7e-8d9c-0b1a2c3d4e5f",
    "status": "pending",
    "created_at": "2026-11-26T10:15:00.123456Z",
    "total": "37.50",
    "items": [
        {
            "id": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a",
            "book_id": "5f0c6f4e-8a3b-4d8e-9a55-0f3f1b2c9d10",
            "title": "The Quiet Harbour",
            "quantity": 3,
            "unit_price": "12.50",
        }
    ],
}

ORDERS_LIST = extend_schema(
    operation_id="orders_list",
    summary="Orders, newest first, with their items",
    description=(
        "A member sees their own orders; an operator sees all of the tenant's. Another "
        "member's order is a 404 for a member, here and in detail and cancel."
    ),
    responses=OrderSerializer(many=True),
)

ORDERS_CREATE = extend_schema(
    operation_id="orders_create",
    summary="Place an order",
    description=(
        "Up to 100 distinct books, 1 to 1000 copies each; repeated books are merged. "
        "Stock is taken atomically and unit prices are copied from the catalog.\n\n"
        f"`{IDEMPOTENCY_HEADER}` (optional, per tenant): repeating a successful request "
        f"with the same key and the same items returns the same order with status 200 "
        f"and `{REPLAYED_HEADER}: true` instead of placing another; the same key with "
        "other items is a 422; a request while another with the key is still being "
        "processed is a 409. A failed request does not use up its key."
    ),
    parameters=[
        OpenApiParameter(
            IDEMPOTENCY_HEADER,
            OpenApiTypes.STR,
            OpenApiParameter.HEADER,
            description="1 to 255 visible ASCII characters, unique per intended order.",
        )
    ],
    request=OrderCreateSerializer,
    responses={
        201: OrderSerializer,
        200: OpenApiResponse(OrderSerializer, description="Idempotent replay: the earlier order."),
        409: OpenApiResponse(
            description=(
                "`out_of_stock` (details.items: book_id, requested, available) or "
                "`idempotency_key_in_flight`."
            )
        ),
        422: OpenApiResponse(
            description="`idempotency_key_reused`: the key placed a different order."
        ),
    },
    examples=[
        OpenApiExample(
            "Three copies",
            value={"items": [{"book_id": ORDER_EXAMPLE["items"][0]["book_id"], "quantity": 3}]},
            request_only=True,
        ),
        OpenApiExample("Placed", value=ORDER_EXAMPLE, response_only=True, status_codes=["201"]),
        OpenApiExample(
            "Short stock",
            value={
                "error": {
                    "code": "out_of_stock",
                    "message": "Not enough stock.",
                    "details": {
                        "items": [
                            {
                                "book_id": ORDER_EXAMPLE["items"][0]["book_id"],
                                "requested": 3,
                                "available": 1,
                            }
                        ]
                    },
                }
            },
            response_only=True,
            status_codes=["409"],
        ),
    ],
)

ORDERS_RETRIEVE = extend_schema(operation_id="orders_retrieve", responses=OrderSerializer)

ORDERS_CANCEL = extend_schema(
    operation_id="orders_cancel",
    summary="Cancel an order and restore its stock",
    description="Idempotent: cancelling a cancelled order returns it unchanged.",
    request=None,
    responses={
        200: OrderSerializer,
        409: OpenApiResponse(description="`order_not_cancellable`: shipped or archived."),
    },
)
