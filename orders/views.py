"""Orders API: parse, call one selector or service, render."""

from __future__ import annotations

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from orders import selectors, services
from orders.filters import OrderFilterSet
from orders.models import Order
from orders.serializers import IdempotencyKeySerializer, OrderCreateSerializer, OrderSerializer
from perf.budgets import query_budgets
from tenants.authentication import request_tenant

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

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


# Query budgets, exact and as production counts them (BEGIN/COMMIT never count; see
# perf.budgets).


@query_budgets(
    # Authentication, COUNT, the page, the page's items (books joined).
    GET=1 + 1 + 1 + 1,
    # Authentication; books locked in id order; the stock UPDATE; the order INSERT; the
    # items INSERT; then the order and its items for the response. An Idempotency-Key
    # adds its advisory lock and the look-up of an earlier order.
    POST=1 + 1 + 1 + 1 + 1 + 2,
)
class OrderListCreateApi(GenericAPIView):
    filterset_class = OrderFilterSet
    queryset = Order.objects.none()  # model for schema introspection only; never evaluated

    @extend_schema(
        operation_id="orders_list",
        summary="Orders, newest first, with their items",
        description=(
            "A member sees their own orders; an operator sees all of the tenant's. Another "
            "member's order is a 404 for a member, here and in detail and cancel."
        ),
        responses=OrderSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        orders = selectors.order_list(tenant=request_tenant(request), user=request.user)
        orders = self.filter_queryset(orders)
        page = self.paginate_queryset(orders)
        return self.get_paginated_response(OrderSerializer(page, many=True).data)

    @extend_schema(
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
            200: OpenApiResponse(
                OrderSerializer, description="Idempotent replay: the earlier order."
            ),
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
    def post(self, request: Request) -> Response:
        params = OrderCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        idempotency_key = None
        if IDEMPOTENCY_HEADER in request.headers:
            header = IdempotencyKeySerializer(data={"key": request.headers[IDEMPOTENCY_HEADER]})
            header.is_valid(raise_exception=True)
            idempotency_key = header.validated_data["key"]
        tenant = request_tenant(request)
        placement = services.order_place(
            tenant=tenant,
            user=request.user,
            items=[services.OrderLine(**item) for item in params.validated_data["items"]],
            idempotency_key=idempotency_key,
        )
        order = selectors.order_get(tenant=tenant, user=request.user, order_id=placement.order.id)
        if placement.replayed:
            return Response(OrderSerializer(order).data, headers={REPLAYED_HEADER: "true"})
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)


@query_budgets(
    GET=1 + 1 + 1,  # authentication, the order, its items (books joined)
)
class OrderDetailApi(GenericAPIView):
    pagination_class = None
    filter_backends = ()

    @extend_schema(operation_id="orders_retrieve", responses=OrderSerializer)
    def get(self, request: Request, order_id: uuid.UUID) -> Response:
        order = selectors.order_get(
            tenant=request_tenant(request), user=request.user, order_id=order_id
        )
        return Response(OrderSerializer(order).data)


@query_budgets(
    # Authentication; lock the order; lock its books; restore stock; set the status; the
    # order and its items for the response.
    POST=1 + 1 + 1 + 1 + 1 + 2,
)
class OrderCancelApi(GenericAPIView):
    pagination_class = None
    filter_backends = ()

    @extend_schema(
        operation_id="orders_cancel",
        summary="Cancel an order and restore its stock",
        description="Idempotent: cancelling a cancelled order returns it unchanged.",
        request=None,
        responses={
            200: OrderSerializer,
            409: OpenApiResponse(description="`order_not_cancellable`: shipped or archived."),
        },
    )
    def post(self, request: Request, order_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        services.order_cancel(tenant=tenant, order_id=order_id, user=request.user)
        order = selectors.order_get(tenant=tenant, user=request.user, order_id=order_id)
        return Response(OrderSerializer(order).data)
