"""Order API payloads. Inputs validate every field (each error names its field); outputs are
the OrderView read model with money as decimal strings beside `currency`."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core.validators import RegexValidator
from django.urls import get_script_prefix, get_urlconf, reverse
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from eventstore.events import redacted_event_data, serialize_event
from orders.commands import LineRequest
from orders.countries import ISO_3166_ALPHA2
from orders.domain import (
    MAX_QUANTITY,
    MIN_QUANTITY,
    NOTE_MAX_LENGTH,
    ORDER_TIMESTAMPS,
    RefundLine,
    RefundStatus,
    ShippingAddress,
)
from orders.models import CustomerOrderStats, OrderView

REASON = RegexValidator(
    r"^[a-z][a-z0-9_]{0,63}$", "Use a lower snake case reason code, e.g. changed_mind."
)


class ShippingAddressSerializer(serializers.Serializer[ShippingAddress]):
    name = serializers.CharField(max_length=200)
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        allow_null=True,
        default="",
        help_text="Optional; null or absent means no second line.",
    )
    city = serializers.CharField(max_length=100)
    postal_code = serializers.CharField(max_length=20)
    country = serializers.CharField(
        min_length=2, max_length=2, help_text="ISO 3166-1 alpha-2, e.g. DE."
    )

    def validate_line2(self, value: str | None) -> str:
        return value or ""

    def validate_country(self, value: str) -> str:
        code = value.upper()
        if code not in ISO_3166_ALPHA2:
            raise serializers.ValidationError(f"{value!r} is not an ISO 3166-1 alpha-2 code.")
        return code

    def to_address(self) -> ShippingAddress:
        return ShippingAddress(**self.validated_data)


@extend_schema_serializer(component_name="ShippingAddress")
class ShippingAddressOutputSerializer(ShippingAddressSerializer):
    """The address in answers, where line2 is always a string ("" when there is none)."""

    line2 = serializers.CharField(max_length=200)


def address_from(data: dict[str, Any] | None) -> ShippingAddress | None:
    return None if data is None else ShippingAddress(**data)


class QuantitySerializer(serializers.Serializer[None]):
    quantity = serializers.IntegerField(min_value=MIN_QUANTITY, max_value=MAX_QUANTITY)


class LineInputSerializer(QuantitySerializer):
    product_id = serializers.UUIDField()


class OrderCreateSerializer(serializers.Serializer[None]):
    items = LineInputSerializer(many=True, required=False, default=list)
    shipping_address = ShippingAddressSerializer(required=False, allow_null=True, default=None)
    currency = serializers.RegexField(
        r"^[A-Z]{3}$", required=False, help_text="ISO 4217; defaults to the first product's."
    )

    def validate_items(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(items) > 100:
            raise serializers.ValidationError("An order has at most 100 lines.")
        product_ids = [item["product_id"] for item in items]
        if len(set(product_ids)) != len(product_ids):
            raise serializers.ValidationError("Each product may appear once.")
        return items

    def lines(self) -> tuple[LineRequest, ...]:
        return tuple(
            LineRequest(product_id=item["product_id"], quantity=item["quantity"])
            for item in self.validated_data["items"]
        )


class ConfirmSerializer(serializers.Serializer[None]):
    payment_token = serializers.CharField(max_length=255, trim_whitespace=True)
    shipping_address = ShippingAddressSerializer(required=False, allow_null=True, default=None)


class CancelSerializer(serializers.Serializer[None]):
    reason = serializers.CharField(
        max_length=64, required=False, default="requested_by_customer", validators=[REASON]
    )


class RefundLineInputSerializer(serializers.Serializer[None]):
    product_id = serializers.UUIDField()
    quantity = serializers.IntegerField(min_value=MIN_QUANTITY, max_value=MAX_QUANTITY)
    restock = serializers.BooleanField(
        default=False, help_text="Put the units back on hand (they came back undamaged)."
    )


class RefundSerializer(serializers.Serializer[None]):
    """No amount and no lines: refund everything that is left (a SHIPPED or DELIVERED order
    becomes REFUNDED, as before partial refunds existed). `amount` or `lines` (not both):
    a partial refund of a PAID, SHIPPED or DELIVERED order, whose status stays."""

    reason = serializers.CharField(max_length=64, validators=[REASON])
    amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        help_text="A partial refund of this much (at most two decimals).",
    )
    lines = RefundLineInputSerializer(
        many=True,
        required=False,
        allow_empty=False,
        help_text="A partial refund of these units, at the order's prices.",
    )
    note = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="Free text kept with a partial refund (shown with the order).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "amount" in attrs and "lines" in attrs:
            message = "Give either amount or lines, not both."
            raise serializers.ValidationError({"amount": [message], "lines": [message]})
        if attrs.get("note") and "amount" not in attrs and "lines" not in attrs:
            raise serializers.ValidationError(
                {"note": ["A note goes with a partial refund (amount or lines)."]}
            )
        return attrs

    def is_partial_refund(self) -> bool:
        return "amount" in self.validated_data or "lines" in self.validated_data

    def refund_lines(self) -> tuple[RefundLine, ...]:
        return tuple(
            RefundLine(
                product_id=line["product_id"], quantity=line["quantity"], restock=line["restock"]
            )
            for line in self.validated_data.get("lines", ())
        )


class ShipSerializer(serializers.Serializer[None]):
    carrier = serializers.CharField(max_length=64)
    tracking_number = serializers.CharField(max_length=128)


class OrderLineSerializer(serializers.Serializer[dict[str, Any]]):
    product_id = serializers.UUIDField()
    sku = serializers.CharField()
    name = serializers.CharField()
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2)
    quantity = serializers.IntegerField()
    line_total = serializers.DecimalField(max_digits=14, decimal_places=2)


class RefundLineOutputSerializer(serializers.Serializer[dict[str, Any]]):
    product_id = serializers.CharField()
    quantity = serializers.IntegerField()
    restock = serializers.BooleanField()


class PartialRefundSerializer(serializers.Serializer[dict[str, Any]]):
    refund_id = serializers.CharField()
    amount = serializers.CharField(help_text="Decimal string, in the order's currency.")
    lines = RefundLineOutputSerializer(many=True)
    reason = serializers.CharField()
    note = serializers.CharField()
    status = serializers.ChoiceField(choices=RefundStatus.choices)
    requested_at = serializers.CharField(help_text="ISO 8601, UTC.")


class OrderSerializer(serializers.ModelSerializer[OrderView]):
    id = serializers.UUIDField(source="order_id")
    customer_id = serializers.UUIDField()
    items = OrderLineSerializer(many=True)
    refunds = PartialRefundSerializer(many=True)
    shipping_address = ShippingAddressOutputSerializer(allow_null=True)
    links = serializers.SerializerMethodField()

    class Meta:
        model = OrderView
        fields = [
            "id",
            "customer_id",
            "status",
            "payment_status",
            "currency",
            "total_amount",
            "item_count",
            "items",
            "shipping_address",
            "version",
            "saga_id",
            "cancellation_reason",
            "refund_reason",
            "carrier",
            "tracking_number",
            "refunded_amount",
            "refundable_amount",
            "refunds",
            *ORDER_TIMESTAMPS,
            "links",
        ]
        read_only_fields = fields

    def get_links(self, view: OrderView) -> dict[str, str]:
        return self._links(view.order_id, view.saga_id)

    def _links(self, order_id: UUID | str, saga_id: UUID | str) -> dict[str, str]:
        # Looked up once per serializer: a list's 20 orders share one (child) serializer.
        templates = self.__dict__.get("_link_urls")
        if templates is None:
            templates = self._link_urls = _link_templates(get_script_prefix(), get_urlconf())
        order_url, saga_url = templates
        base = order_url.format(order_id)
        return {
            "self": base,
            "events": f"{base}events/",
            "history": f"{base}history/",
            "saga": saga_url.format(saga_id),
        }

    def to_representation(self, instance: OrderView | Mapping[str, Any]) -> dict[str, Any]:
        # Hand-written: the order detail is the hottest read, and walking ~25 generic fields
        # costs more than the query (bench/bench_orders.py). The declared fields above stay
        # the schema; tests pin this output to them. A model's own __dict__ holds its
        # columns; the list hands in rows of LIST_COLUMNS (no model instances built).
        if isinstance(instance, Mapping):
            return self._represent(instance)
        try:
            return self._represent(instance.__dict__)
        except KeyError:  # a deferred column: the model loads it on access
            return self._represent({name: getattr(instance, name) for name in LIST_COLUMNS})

    def _represent(self, row: Mapping[str, Any]) -> dict[str, Any]:
        address = row["shipping_address"]
        order_id, saga_id = str(row["order_id"]), str(row["saga_id"])  # each written thrice
        return {
            "id": order_id,
            "customer_id": str(row["customer_id"]),
            "status": row["status"],
            "payment_status": row["payment_status"],
            "currency": row["currency"],
            "total_amount": f"{row['total_amount']:.2f}",
            "item_count": row["item_count"],
            "items": row["items"],
            "shipping_address": None if address is None else {"line2": "", **address},
            "version": row["version"],
            "saga_id": saga_id,
            "cancellation_reason": row["cancellation_reason"],
            "refund_reason": row["refund_reason"],
            "carrier": row["carrier"],
            "tracking_number": row["tracking_number"],
            "refunded_amount": f"{row['refunded_amount']:.2f}",
            "refundable_amount": f"{row['refundable_amount']:.2f}",
            "refunds": row["refunds"],
            **{name: _iso(row[name]) for name in ORDER_TIMESTAMPS},
            "links": self._links(order_id, saga_id),
        }

    def generic_representation(self, instance: OrderView) -> dict[str, Any]:
        """What DRF's declared fields would produce (the tests compare the two)."""
        return dict(super().to_representation(instance))


# The read-model columns an order's representation reads (what a list page selects): the
# declared fields, `id` being the column order_id, and `links` computed.
LIST_COLUMNS = tuple(
    "order_id" if name == "id" else name for name in OrderSerializer.Meta.fields if name != "links"
)

_PLACEHOLDER = UUID(int=0)


@functools.cache
def _link_templates(script_prefix: str, urlconf: str | None) -> tuple[str, str]:
    """The order and saga URLs with `{}` for the id: a list page has 20 orders, and two
    `reverse()` calls each cost more than rendering the rest of the order. Cached per
    script prefix and URLconf, the two things `reverse()` depends on here."""
    placeholder = str(_PLACEHOLDER)
    order_url = reverse("order-detail", kwargs={"order_id": _PLACEHOLDER})
    saga_url = reverse("saga-detail", kwargs={"saga_id": _PLACEHOLDER})
    return order_url.replace(placeholder, "{}"), saga_url.replace(placeholder, "{}")


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.utcoffset() != _ZERO:  # the database's times are UTC already: no conversion
        value = value.astimezone(UTC)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


_ZERO = timedelta(0)


class HistoricalOrderSerializer(OrderSerializer):
    """The order rebuilt from events: the same shape as the detail, as it was then."""


class OrderEventSerializer(serializers.Serializer[Any]):
    version = serializers.IntegerField()
    event_type = serializers.CharField()
    data = serializers.SerializerMethodField()  # type: ignore[assignment]
    created_at = serializers.DateTimeField()
    metadata = serializers.SerializerMethodField()

    def get_data(self, recorded: Any) -> dict[str, Any]:
        return redacted_event_data(recorded.event_type, serialize_event(recorded.event))

    def get_metadata(self, recorded: Any) -> dict[str, Any]:
        keys = ("correlation_id", "causation_id", "actor", "schema_version")
        return {k: recorded.metadata[k] for k in keys if k in recorded.metadata}


class NoteInputSerializer(serializers.Serializer[None]):
    text = serializers.CharField(max_length=NOTE_MAX_LENGTH, help_text="Free text for staff.")


class NoteSerializer(serializers.Serializer[Any]):
    """An internal note: the OrderNoteAdded event as staff read it."""

    version = serializers.IntegerField(help_text="The order's stream version of the note.")
    author = serializers.CharField(source="event.author", help_text="staff:<user id>")
    author_name = serializers.CharField(source="event.author_name")
    text = serializers.CharField(source="event.text")
    created_at = serializers.DateTimeField()


class HistoryQuerySerializer(serializers.Serializer[None]):
    version = serializers.IntegerField(min_value=1, required=False)
    as_of = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("version" in attrs) == ("as_of" in attrs):
            raise serializers.ValidationError(
                {"version": ["Give exactly one of version or as_of."]}
            )
        return attrs


class CustomerOrderStatsSerializer(serializers.ModelSerializer[CustomerOrderStats]):
    customer_id = serializers.UUIDField()
    lifetime_value = serializers.SerializerMethodField()

    class Meta:
        model = CustomerOrderStats
        fields = [
            "customer_id",
            "currency",
            "orders_placed",
            "orders_paid",
            "orders_cancelled",
            "amount_paid",
            "amount_refunded",
            "lifetime_value",
            "last_order_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_lifetime_value(self, stats: CustomerOrderStats) -> str:
        return f"{stats.amount_paid - stats.amount_refunded:.2f}"
