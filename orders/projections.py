"""Read models of orders, projected from the event store.

- OrderViewProjection (inline): the `order_views` row of an order is folded forward in the
  transaction that appends the order's events, and written with eventstore's version-guarded
  upsert, so an older state never overwrites a newer one. The row holds the whole state of
  the order, so folding one event means: rebuild the aggregate from the row, let the
  aggregate apply the event (the one implementation of "what an event does"), and write the
  aggregate back as a row. The same fold serves rebuild_projections and verify_projections.
  A command's own save skips the read and the fold: the aggregate it saved is that state
  already, so its row is written as `order_view_row(aggregate)` (`row_of`; tests check it
  against a fold of the whole stream for every status an order can reach).
- CustomerOrderStatsProjection (asynchronous): per order, what it adds to its customer's
  statistics (placed, paid, cancelled, money paid and refunded), one `order_tallies` row per
  order stream, folded by version and version-guarded like `order_views`, so a re-delivered
  or out-of-order batch is harmless and the table can be rebuilt and verified. The view
  `customer_order_stats` sums the tallies per customer and currency. It runs only from the
  catch-up runner (`eventstore.tasks.run_async_projections`), so it trails the orders by one
  runner pass. (It used to keep one row per customer that remembered the last event position
  it had counted and skipped anything at or before it; a row summing many streams cannot
  tell a repeat from an event delivered late, so it dropped events.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventstore.projections import Projection, Row, register_projection
from eventstore.store import RecordedEvent

from .domain import (
    ORDER_EVENT_TYPES,
    ORDER_TIMESTAMPS,
    Order,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderLine,
    OrderPaid,
    OrderRefundCompleted,
    OrderRefunded,
    PartialRefund,
    PaymentStatus,
    Refund,
    RefundLine,
    RefundStatus,
    ShippingAddress,
    saga_id_for,
)


def _line_json(line: OrderLine) -> dict[str, Any]:
    return {
        "product_id": str(line.product_id),
        "sku": line.sku,
        "name": line.name,
        "unit_price": str(line.unit_price),
        "quantity": line.quantity,
        "line_total": str(line.line_total),
    }


def refund_json(refund: PartialRefund) -> dict[str, Any]:
    return {
        "refund_id": str(refund.refund_id),
        "amount": str(refund.amount),
        "lines": [
            {"product_id": str(line.product_id), "quantity": line.quantity, "restock": line.restock}
            for line in refund.lines
        ],
        "reason": refund.reason,
        "note": refund.note,
        "status": refund.status.value,
        "requested_at": refund.requested_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


def refund_from_json(data: dict[str, Any]) -> PartialRefund:
    return PartialRefund(
        refund_id=_uuid(data["refund_id"]),
        amount=Decimal(data["amount"]),
        lines=tuple(
            RefundLine(
                product_id=_uuid(line["product_id"]),
                quantity=int(line["quantity"]),
                restock=bool(line["restock"]),
            )
            for line in data["lines"]
        ),
        reason=data["reason"],
        note=data["note"],
        status=RefundStatus(data["status"]),
        requested_at=datetime.fromisoformat(data["requested_at"]),
    )


def order_view_row(order: Order) -> Row:
    """The order_views row of an aggregate, keyed by column name."""
    address = order.shipping_address
    row: Row = {
        "order_id": order.id,
        "customer_id": order.customer_id,
        "status": str(order.status),
        "payment_status": str(order.payment_status),
        "currency": order.currency,
        "total_amount": order.total_amount,
        "item_count": order.item_count,
        "items": [_line_json(line) for line in order.lines.values()],
        "skus": sorted({line.sku.lower() for line in order.lines.values()}),
        "shipping_address": None
        if address is None
        else {
            "name": address.name,
            "line1": address.line1,
            "line2": address.line2,
            "city": address.city,
            "postal_code": address.postal_code,
            "country": address.country,
        },
        "version": order.version,
        "saga_id": saga_id_for(order.id),
        "payment_id": order.payment_id,
        "cancellation_reason": order.cancellation_reason,
        "refund_reason": order.refund_reason,
        "carrier": order.carrier,
        "tracking_number": order.tracking_number,
        "captured_amount": order.captured_amount,
        "refunded_amount": order.refunded_amount,
        "refundable_amount": order.refundable_amount,
        "refunds": [refund_json(refund) for refund in order.refunds.values()],
    }
    for name in ORDER_TIMESTAMPS:
        row[name] = getattr(order, name)
    return row


def order_from_row(row: Row) -> Order:
    """The aggregate an order_views row describes (the inverse of order_view_row)."""
    order = Order.blank(_uuid(row["order_id"]))
    order.status = row["status"]
    order.version = int(row["version"])
    order.customer_id = _uuid(row["customer_id"])
    order.currency = row["currency"]
    order.lines = {}
    for item in row["items"]:
        line = OrderLine(
            product_id=_uuid(item["product_id"]),
            sku=item["sku"],
            name=item["name"],
            unit_price=Decimal(item["unit_price"]),
            quantity=int(item["quantity"]),
        )
        order.lines[line.product_id] = line
    address = row["shipping_address"]
    order.shipping_address = None if address is None else ShippingAddress(**address)
    order.payment_status = PaymentStatus(row["payment_status"])
    order.payment_id = None if row["payment_id"] is None else _uuid(row["payment_id"])
    order.cancellation_reason = row["cancellation_reason"]
    order.refund_reason = row["refund_reason"]
    order.carrier = row["carrier"]
    order.tracking_number = row["tracking_number"]
    order.captured_amount = Decimal(row["captured_amount"])
    order.refunded_amount = Decimal(row["refunded_amount"])
    order.refunds = {}
    for data in row["refunds"]:
        refund = refund_from_json(data)
        order.refunds[refund.refund_id] = refund
    for name in ORDER_TIMESTAMPS:
        setattr(order, name, row[name])
    return order


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


@register_projection
class OrderViewProjection(Projection):
    name = "order_views"
    table = "order_views"
    key = "order_id"
    version_column = "version"
    inline = True
    event_types = ORDER_EVENT_TYPES

    def row_of(self, aggregate: Any) -> Row | None:
        return order_view_row(aggregate) if isinstance(aggregate, Order) else None

    def apply(self, row: Row | None, event: RecordedEvent) -> Row | None:
        if isinstance(event.event, OrderCreated):
            order = Order.blank(event.aggregate_id)
        elif row is None:
            return None
        else:
            order = order_from_row(row)
        order.apply_event(event.event)
        return order_view_row(order)


@register_projection
class CustomerOrderStatsProjection(Projection):
    """Per order, what it adds to its customer's statistics (table `order_tallies`; the
    view `customer_order_stats` sums it per customer and currency)."""

    name = "customer_order_stats"
    table = "order_tallies"
    key = "order_id"
    version_column = "version"
    inline = False
    event_types = frozenset(
        {
            "OrderCreated",
            "OrderConfirmed",
            "OrderPaid",
            "OrderCancelled",
            "OrderRefunded",
            "OrderRefundCompleted",
        }
    )

    def apply(self, row: Row | None, event: RecordedEvent) -> Row | None:
        e = event.event
        if isinstance(e, OrderCreated):
            return {
                "order_id": event.aggregate_id,
                "customer_id": e.customer_id,
                "currency": e.currency,
                "placed": 0,
                "paid": 0,
                "cancelled": 0,
                "amount_paid": Decimal("0.00"),
                "amount_refunded": Decimal("0.00"),
                "confirmed_at": None,
                "counted_at": None,
            }
        if row is None:
            return None
        if isinstance(e, OrderConfirmed):
            row["placed"] += 1
            row["confirmed_at"] = event.created_at
        elif isinstance(e, OrderPaid):
            row["paid"] += 1
            row["amount_paid"] += e.amount
        elif isinstance(e, OrderCancelled):
            row["cancelled"] += 1
            row["amount_refunded"] += e.refund_amount
            if e.refund == Refund.RETURNED and not row["paid"]:
                # Captured by the saga but never marked PAID, then given back: count it as
                # taken too, so the lifetime value nets to zero instead of going negative.
                row["amount_paid"] += e.refund_amount
        elif isinstance(e, OrderRefunded | OrderRefundCompleted):
            row["amount_refunded"] += e.amount
        row["counted_at"] = event.created_at
        return row


@register_projection
class OrderEventTalliesProjection(Projection):
    """Per order, events by type (table `order_event_tallies`), for the
    `commerce_order_events_total` metric."""

    name = "order_event_tallies"
    table = "order_event_tallies"
    key = "order_id"
    version_column = "version"
    inline = False
    event_types = ORDER_EVENT_TYPES

    def apply(self, row: Row | None, event: RecordedEvent) -> Row | None:
        if row is None:
            row = {"order_id": event.aggregate_id, "counts": {}}
        counts = dict(row["counts"])
        counts[event.event_type] = counts.get(event.event_type, 0) + 1
        row["counts"] = counts
        return row
