"""Shapes only: plain serializers over what the selectors loaded; none of them queries."""

from __future__ import annotations

from rest_framework import serializers

from orders.models import OrderStatus
from orders.services import MAX_ITEMS, MAX_QUANTITY

MONEY = {"max_digits": 10, "decimal_places": 2}
# The request header that makes an order placement idempotent, and the answer's header
# that says an earlier order was replayed.
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


class OrderItemInputSerializer(serializers.Serializer):
    book_id = serializers.UUIDField()
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)


class OrderCreateSerializer(serializers.Serializer):
    items = OrderItemInputSerializer(many=True, min_length=1, max_length=MAX_ITEMS)


class IdempotencyKeySerializer(serializers.Serializer):
    key = serializers.RegexField(
        r"^[\x21-\x7e]{1,255}$",
        error_messages={"invalid": "1 to 255 visible ASCII characters."},
    )


class OrderItemSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    book_id = serializers.UUIDField(read_only=True)
    title = serializers.CharField(source="book.title", read_only=True)
    quantity = serializers.IntegerField(read_only=True)
    unit_price = serializers.DecimalField(**MONEY, read_only=True, coerce_to_string=True)


class OrderSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    status = serializers.ChoiceField(choices=OrderStatus.choices, read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    total = serializers.DecimalField(**MONEY, read_only=True, coerce_to_string=True)
    items = OrderItemSerializer(many=True, read_only=True)
