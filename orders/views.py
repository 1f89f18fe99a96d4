"""Orders API: parse, call one selector or service, render."""

from __future__ import annotations

import uuid

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from core.views import ApiView
from orders import openapi, selectors, services
from orders.filters import OrderFilterSet
from orders.models import Order
from orders.serializers import (
    IDEMPOTENCY_HEADER,
    REPLAYED_HEADER,
    IdempotencyKeySerializer,
    OrderCreateSerializer,
    OrderSerializer,
)
from perf.budgets import query_budgets
from tenants.authentication import request_tenant

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
class OrderListCreateApi(ApiView):
    filterset_class = OrderFilterSet
    paginated = True
    schema_model = Order

    @openapi.ORDERS_LIST
    def get(self, request: Request) -> Response:
        orders = selectors.order_list(tenant=request_tenant(request), user=request.user)
        orders = self.filter_queryset(orders)
        return self.page_response(self.paginate_queryset(orders), OrderSerializer)

    @openapi.ORDERS_CREATE
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
class OrderDetailApi(ApiView):
    @openapi.ORDERS_RETRIEVE
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
class OrderCancelApi(ApiView):
    @openapi.ORDERS_CANCEL
    def post(self, request: Request, order_id: uuid.UUID) -> Response:
        tenant = request_tenant(request)
        services.order_cancel(tenant=tenant, order_id=order_id, user=request.user)
        order = selectors.order_get(tenant=tenant, user=request.user, order_id=order_id)
        return Response(OrderSerializer(order).data)
