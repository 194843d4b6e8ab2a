from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from rest_framework import serializers

from carts.selectors import CartStatus
from orders.api.serializers import ShippingAddressSerializer


class CartLineSerializer(serializers.Serializer[Any]):
    product_id = serializers.UUIDField()
    sku = serializers.CharField()
    name = serializers.CharField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    quantity = serializers.IntegerField()
    line_total = serializers.DecimalField(max_digits=14, decimal_places=2)
    available = serializers.IntegerField()
    active = serializers.BooleanField()


class CartSerializer(serializers.Serializer[Any]):
    session_id = serializers.CharField()
    owner_id = serializers.UUIDField(allow_null=True)
    status = serializers.ChoiceField(choices=[status.value for status in CartStatus])
    lines = CartLineSerializer(many=True)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    item_count = serializers.IntegerField()
    expires_at = serializers.DateTimeField(allow_null=True)


def _check_range(value: int, minimum: int) -> int:
    maximum = int(settings.CART_MAX_LINE_QUANTITY)
    if not minimum <= value <= maximum:
        raise serializers.ValidationError(f"Must be between {minimum} and {maximum}.")
    return value


class CartItemAddSerializer(serializers.Serializer[Any]):
    product_id = serializers.UUIDField()
    quantity = serializers.IntegerField()

    def validate_quantity(self, value: int) -> int:
        return _check_range(value, 1)


class CartItemSetSerializer(serializers.Serializer[Any]):
    quantity = serializers.IntegerField(help_text="0 removes the line.")

    def validate_quantity(self, value: int) -> int:
        return _check_range(value, 0)


class CheckoutSerializer(serializers.Serializer[None]):
    payment_token = serializers.CharField(max_length=255)
    shipping_address = ShippingAddressSerializer()
    expected_total = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal(0),
        required=False,
        allow_null=True,
        default=None,
        help_text="The total shown to the customer; 409 price-changed if it differs now "
        "(409 concurrency-conflict if the cart was already checked out as an order of "
        "another total).",
    )


class CheckoutResultSerializer(serializers.Serializer[None]):
    order_id = serializers.UUIDField()
    saga_id = serializers.UUIDField()
    status = serializers.CharField()
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    order_url = serializers.CharField()
    saga_url = serializers.CharField()
    already_checked_out = serializers.BooleanField(
        help_text="True when the cart had been checked out before: this is that order "
        "(answered with 200, not 202), and the request's own data was not used."
    )
