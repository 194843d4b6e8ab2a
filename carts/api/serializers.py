from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from rest_framework import serializers

from carts.selectors import CartStatus
from orders.api.serializers import ShippingAddressSerializer
from orders.domain import ORDER_STATUSES


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


def _quantity_field(minimum: int, help_text: str) -> serializers.IntegerField:
    """A line quantity within minimum..CART_MAX_LINE_QUANTITY, read when the serializer is
    built (so the schema states the limit the server enforces now)."""
    maximum = int(settings.CART_MAX_LINE_QUANTITY)
    message = f"Must be between {minimum} and {maximum}."
    return serializers.IntegerField(
        min_value=minimum,
        max_value=maximum,
        help_text=help_text,
        error_messages={"min_value": message, "max_value": message},
    )


class CartItemAddSerializer(serializers.Serializer[Any]):
    product_id = serializers.UUIDField()

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        fields["quantity"] = _quantity_field(1, "Units to add (1..CART_MAX_LINE_QUANTITY).")
        return fields


def cart_item_add_input(data: Any) -> tuple[UUID, int]:
    """The product and quantity of an add-item body, as CartItemAddSerializer validates
    them. A well-formed body (the usual one) is read directly: building and running the
    serializer cost more than the rest of the request. Anything else goes through the
    serializer, so every error reads exactly as before."""
    if isinstance(data, dict):
        product_id, quantity = data.get("product_id"), data.get("quantity")
        # The checks of the serializer's fields (strict JSON types, the quantity's bounds).
        if (
            type(product_id) is str
            and type(quantity) is int
            and 1 <= quantity <= int(settings.CART_MAX_LINE_QUANTITY)
        ):
            try:
                return UUID(hex=product_id), quantity
            except ValueError:
                pass  # the serializer says what is wrong
    serializer = CartItemAddSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["product_id"], serializer.validated_data["quantity"]


class CartItemSetSerializer(serializers.Serializer[Any]):
    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        fields["quantity"] = _quantity_field(
            0, "The line's new quantity (0..CART_MAX_LINE_QUANTITY); 0 removes the line."
        )
        return fields


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
    status = serializers.ChoiceField(choices=[s.value for s in ORDER_STATUSES])
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    order_url = serializers.CharField()
    saga_url = serializers.CharField()
    already_checked_out = serializers.BooleanField(
        help_text="True when the cart had been checked out before: this is that order "
        "(answered with 200, not 202), and the request's own data was not used."
    )
