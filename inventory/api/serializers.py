from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from inventory.models import Product, StockMovement

SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
MAX_QUANTITY = 1_000_000


class ProductSerializer(serializers.ModelSerializer[Product]):
    """What anyone sees. `available` comes from the stock cache (context["availability"])."""

    available = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields: tuple[str, ...] = (
            "id",
            "sku",
            "name",
            "description",
            "price",
            "currency",
            "active",
            "available",
        )
        read_only_fields = fields

    def get_available(self, product: Product) -> int:
        availability: dict[Any, int] = self.context.get("availability", {})
        return availability.get(product.id, 0)

    def to_representation(self, instance: Product) -> dict[str, Any]:
        # Hand-written (`public_product`, which the catalogue page calls on its rows
        # directly): DRF's field-by-field walk cost more than the query. The declared
        # fields stay the schema; tests pin this output to them. Subclasses (staff) go
        # DRF's way.
        if type(self) is not ProductSerializer:
            return self.generic_representation(instance)
        values = {name: getattr(instance, name) for name in PUBLIC_COLUMNS}
        return public_product(values, self.get_available(instance))

    def generic_representation(self, instance: Product) -> dict[str, Any]:
        """What DRF's declared fields produce (the tests compare the two)."""
        return dict(super().to_representation(instance))


# What the public representation reads of a product (the declared fields but `available`).
PUBLIC_COLUMNS = tuple(name for name in ProductSerializer.Meta.fields if name != "available")


def public_product(values: Mapping[str, Any], available: int) -> dict[str, Any]:
    """ProductSerializer's representation of a row of PUBLIC_COLUMNS with `available`.
    The catalogue page calls it per row directly: the list serializer's walk (and each
    child's context lookup) cost more than the representations."""
    return {
        "id": str(values["id"]),
        "sku": values["sku"],
        "name": values["name"],
        "description": values["description"],
        "price": f"{values['price']:.2f}",
        "currency": values["currency"],
        "active": values["active"],
        "available": available,
    }


class StaffProductSerializer(ProductSerializer):
    """Staff also see the stock row behind `available`, straight from the database."""

    on_hand = serializers.IntegerField(source="stock.on_hand", read_only=True)
    reserved = serializers.IntegerField(source="stock.reserved", read_only=True)
    stock_version = serializers.IntegerField(source="stock.version", read_only=True)

    class Meta(ProductSerializer.Meta):
        fields = (
            *ProductSerializer.Meta.fields,
            "on_hand",
            "reserved",
            "stock_version",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class ProductCreateSerializer(serializers.Serializer[Any]):
    sku = serializers.RegexField(
        SKU_PATTERN,
        error_messages={"invalid": "1 to 64 letters, digits, '.', '_' or '-'."},
    )
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    currency = serializers.RegexField(
        CURRENCY_PATTERN,
        required=False,
        error_messages={"invalid": "An ISO 4217 code in capitals, e.g. EUR."},
    )
    active = serializers.BooleanField(required=False, default=True)
    initial_stock = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=MAX_QUANTITY
    )

    def validate_sku(self, value: str) -> str:
        if Product.objects.filter(sku=value).exists():
            raise serializers.ValidationError("A product with this SKU already exists.")
        return value


class ProductUpdateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    currency = serializers.RegexField(
        CURRENCY_PATTERN,
        required=False,
        error_messages={"invalid": "An ISO 4217 code in capitals, e.g. EUR."},
    )
    active = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Silently ignoring "sku" or "on_hand" would let a client believe it changed them.
        data = self.initial_data if isinstance(self.initial_data, Mapping) else {}
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name: ["This field cannot be changed here."] for name in unknown}
            )
        if not attrs:
            raise serializers.ValidationError(
                {"non_field_errors": [f"Send one or more of: {', '.join(self.fields)}."]}
            )
        return attrs


class RestockSerializer(serializers.Serializer[Any]):
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class StockMovementSerializer(serializers.ModelSerializer[StockMovement]):
    class Meta:
        model = StockMovement
        fields: tuple[str, ...] = (
            "id",
            "kind",
            "on_hand_delta",
            "reserved_delta",
            "reference",
            "actor",
            "reason",
            "created_at",
        )
        read_only_fields = fields
