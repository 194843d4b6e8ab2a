"""Given/when/then over events for the Order aggregate: no database, no clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from eventstore.events import DomainEvent
from orders.domain import (
    CatalogueItem,
    Order,
    OrderConfirmed,
    OrderCreated,
    OrderDelivered,
    OrderItemAdded,
    OrderPaid,
    OrderPaymentAuthorized,
    OrderShipped,
    ShippingAddress,
    ShippingAddressSet,
    replay,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
AT = T0 + timedelta(hours=1)
ORDER_ID = UUID("00000000-0000-4000-8000-0000000000aa")
CUSTOMER_ID = UUID("00000000-0000-4000-8000-0000000000c1")
PAYMENT_ID = UUID("00000000-0000-4000-8000-0000000000b1")
ADDRESS = ShippingAddress(
    name="Ada Lovelace",
    line1="12 St James's Square",
    city="London",
    postal_code="SW1Y 4JH",
    country="GB",
)


def catalogue_item(
    *, price: str = "10.00", currency: str = "EUR", active: bool = True, sku: str = "SKU-1"
) -> CatalogueItem:
    return CatalogueItem(
        product_id=uuid4(),
        sku=sku,
        name=f"Product {sku}",
        unit_price=Decimal(price),
        currency=currency,
        active=active,
    )


WIDGET = CatalogueItem(
    product_id=UUID("00000000-0000-4000-8000-0000000000d1"),
    sku="WID-1",
    name="Widget",
    unit_price=Decimal("12.50"),
    currency="EUR",
)


def given(*events: DomainEvent) -> Order:
    return replay(ORDER_ID, events)


def when(order: Order, command: Callable[[Order], object]) -> list[DomainEvent]:
    command(order)
    return order.pending_events


# Event histories that put an order in each status.
CREATED = (OrderCreated(customer_id=CUSTOMER_ID, currency="EUR", occurred_at=T0),)
WITH_LINE = (
    *CREATED,
    OrderItemAdded(
        product_id=WIDGET.product_id,
        sku=WIDGET.sku,
        name=WIDGET.name,
        unit_price=WIDGET.unit_price,
        quantity=2,
        occurred_at=T0,
    ),
)
READY = (*WITH_LINE, ShippingAddressSet(address=ADDRESS, occurred_at=T0))
CONFIRMED = (
    *READY,
    OrderConfirmed(
        payment_token="tok_ok", total_amount=Decimal("25.00"), currency="EUR", occurred_at=T0
    ),
)
AUTHORIZED = (
    *CONFIRMED,
    OrderPaymentAuthorized(payment_id=PAYMENT_ID, amount=Decimal("25.00"), occurred_at=T0),
)
PAID = (*AUTHORIZED, OrderPaid(payment_id=PAYMENT_ID, amount=Decimal("25.00"), occurred_at=T0))
SHIPPED = (*PAID, OrderShipped(carrier="DHL", tracking_number="JD0001", occurred_at=T0))
DELIVERED = (*SHIPPED, OrderDelivered(occurred_at=T0))
# The history that takes an order to each status short of a cancel or a refund.
LIVE_HISTORIES: dict[str, tuple[DomainEvent, ...]] = {
    "DRAFT": READY,
    "CONFIRMED": CONFIRMED,
    "CONFIRMED+authorized": AUTHORIZED,
    "PAID": PAID,
    "SHIPPED": SHIPPED,
    "DELIVERED": DELIVERED,
}
