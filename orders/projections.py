"""Read models of orders, projected from the event store.

- OrderViewProjection (inline): the `order_views` row of an order is folded forward in the
  transaction that appends the order's events, and written with eventstore's version-guarded
  upsert, so an older state never overwrites a newer one. The row holds the whole state of
  the order, so folding one event means: rebuild the aggregate from the row, let the
  aggregate apply the event (the one implementation of "what an event does"), and write the
  aggregate back as a row. The same fold serves rebuild_projections and verify_projections.
- CustomerOrderStatsProjection (asynchronous): per customer and currency, orders placed,
  paid and cancelled and the money paid and refunded. It runs only from the catch-up runner
  (`eventstore.tasks.run_async_projections`), so it trails the orders by one runner pass. A
  row sums over many streams, so stream versions cannot guard it: each row remembers the
  last event position it counted and skips anything at or before it, which makes a
  re-delivered batch harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventstore.projections import Projection, Row, register_projection
from eventstore.store import RecordedEvent, load

from .domain import (
    ORDER_EVENT_TYPES,
    Order,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderLine,
    OrderPaid,
    OrderRefunded,
    PaymentStatus,
    ShippingAddress,
    saga_id_for,
)
from .models import CustomerOrderStats


def _line_json(line: OrderLine) -> dict[str, Any]:
    return {
        "product_id": str(line.product_id),
        "sku": line.sku,
        "name": line.name,
        "unit_price": str(line.unit_price),
        "quantity": line.quantity,
        "line_total": str(line.line_total),
    }


_TIMESTAMPS = (
    "created_at",
    "updated_at",
    "confirmed_at",
    "paid_at",
    "shipped_at",
    "delivered_at",
    "cancelled_at",
    "refunded_at",
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
    }
    for name in _TIMESTAMPS:
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
    for name in _TIMESTAMPS:
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
    name = "customer_order_stats"
    inline = False
    event_types = frozenset(
        {"OrderCreated", "OrderConfirmed", "OrderPaid", "OrderCancelled", "OrderRefunded"}
    )

    def handle(self, events: Sequence[RecordedEvent]) -> None:
        owners = self._owners(events)
        keys = {owners[e.aggregate_id] for e in events if e.aggregate_id in owners}
        existing = {
            (row.customer_id, row.currency): row
            for row in CustomerOrderStats.objects.filter(
                customer_id__in={customer for customer, _ in keys}
            )
        }
        changed: dict[tuple[UUID, str], CustomerOrderStats] = {}
        for recorded in events:
            owner = owners.get(recorded.aggregate_id)
            if owner is None or isinstance(recorded.event, OrderCreated):
                continue
            stats = existing.get(owner)
            if stats is None:
                stats = CustomerOrderStats(customer_id=owner[0], currency=owner[1])
                existing[owner] = stats
            if (stats.last_transaction_id, stats.last_global_position) >= recorded.position:
                continue
            _count(stats, recorded)
            changed[owner] = stats
        if changed:
            CustomerOrderStats.objects.bulk_create(
                changed.values(),
                update_conflicts=True,
                unique_fields=["customer", "currency"],
                update_fields=[
                    "orders_placed",
                    "orders_paid",
                    "orders_cancelled",
                    "amount_paid",
                    "amount_refunded",
                    "last_order_at",
                    "updated_at",
                    "last_transaction_id",
                    "last_global_position",
                ],
            )

    @staticmethod
    def _owners(events: Sequence[RecordedEvent]) -> dict[UUID, tuple[UUID, str]]:
        """(customer, currency) of each order, from its OrderCreated event."""
        owners: dict[UUID, tuple[UUID, str]] = {}
        for recorded in events:
            if isinstance(recorded.event, OrderCreated):
                owners[recorded.aggregate_id] = (
                    recorded.event.customer_id,
                    recorded.event.currency,
                )
        for aggregate_id in {e.aggregate_id for e in events} - owners.keys():
            first = load(aggregate_id, to_version=1)
            if first and isinstance(first[0].event, OrderCreated):
                owners[aggregate_id] = (first[0].event.customer_id, first[0].event.currency)
        return owners


def _count(stats: CustomerOrderStats, recorded: RecordedEvent) -> None:
    event = recorded.event
    if isinstance(event, OrderConfirmed):
        stats.orders_placed += 1
        stats.last_order_at = recorded.created_at
    elif isinstance(event, OrderPaid):
        stats.orders_paid += 1
        stats.amount_paid += event.amount
    elif isinstance(event, OrderCancelled):
        stats.orders_cancelled += 1
        stats.amount_refunded += event.refund_amount
        if event.refunded and not event.by_staff:
            # Captured by the saga but never marked PAID, then given back: count it as
            # taken too, so the lifetime value nets to zero instead of going negative.
            stats.amount_paid += event.refund_amount
    elif isinstance(event, OrderRefunded):
        stats.amount_refunded += event.amount
    stats.updated_at = recorded.created_at
    stats.last_transaction_id, stats.last_global_position = recorded.position
