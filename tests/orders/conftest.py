"""Orders fixtures: catalogue products and orders driven through the real command bus."""

from __future__ import annotations

import time
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from accounts.models import User
from eventstore.commands import dispatch
from eventstore.projections import checkpoint_get, get_projection, projection_lag, run_projection
from inventory.models import Product
from orders.commands import (
    ConfirmOrder,
    CreateOrder,
    LineRequest,
    MarkOrderPaid,
    RecordPaymentAuthorized,
    ShipOrder,
)
from orders.domain import SAGA, TRANSITIONS, Actor, Order, ShippingAddress
from tests.orders.factories import ProductFactory

ADDRESS = ShippingAddress(
    name="Grace Hopper",
    line1="1 Navy Way",
    city="Arlington",
    postal_code="22202",
    country="US",
)
ADDRESS_JSON = {
    "name": "Grace Hopper",
    "line1": "1 Navy Way",
    "city": "Arlington",
    "postal_code": "22202",
    "country": "US",
}


# Staff holding every order permission, acting on nobody's own order: for set-up steps.
BACK_OFFICE = Actor.staff(uuid4(), {rule.permission for rule in TRANSITIONS if rule.permission})


@pytest.fixture
def widget(db: None) -> Product:
    return ProductFactory(sku="WIDGET", name="Widget", price=Decimal("12.50"))


@pytest.fixture
def gadget(db: None) -> Product:
    return ProductFactory(sku="GADGET", name="Gadget", price=Decimal("3.20"))


def make_order(
    customer: User,
    *,
    lines: list[tuple[Product, int]],
    to: str = "DRAFT",
    address: ShippingAddress | None = ADDRESS,
) -> Order:
    """An order taken through the real commands up to status `to`."""
    order_id = uuid4()
    as_customer = Actor.customer(customer.pk)
    order: Order = dispatch(
        CreateOrder(
            order_id=order_id,
            actor=as_customer,
            customer_id=customer.pk,
            lines=tuple(LineRequest(product_id=p.pk, quantity=q) for p, q in lines),
            shipping_address=address,
        )
    )
    steps = ["CONFIRMED", "PAID", "SHIPPED"]
    if to in steps:
        order = dispatch(ConfirmOrder(order_id=order_id, actor=as_customer, payment_token="tok_ok"))
    if to in steps[1:]:
        order = pay_order(order)
    if to in steps[2:]:
        order = dispatch(
            ShipOrder(order_id=order_id, actor=BACK_OFFICE, carrier="DHL", tracking_number="JD1")
        )
    assert order.status == to
    return order


def pay_order(order: Order) -> Order:
    """A CONFIRMED order's payment authorized and the order marked PAID, as the saga does."""
    payment_id = uuid4()
    dispatch(
        RecordPaymentAuthorized(
            order_id=order.id, actor=SAGA, payment_id=payment_id, amount=order.total_amount
        )
    )
    paid: Order = dispatch(MarkOrderPaid(order_id=order.id, actor=SAGA, payment_id=payment_id))
    return paid


def order_url(order_id: UUID, suffix: str = "") -> str:
    return f"/api/v1/orders/{order_id}/{suffix}"


def catch_up() -> int:
    """Run the catch-up runner until it has seen every event. It reads only transactions
    below the cluster's xmin, which another session on the same server may hold back for a
    moment, so poll rather than assume one pass is enough."""
    handled = 0
    deadline = time.monotonic() + 10
    projection = get_projection("customer_order_stats")
    while time.monotonic() < deadline:
        handled += run_projection("customer_order_stats")
        if projection_lag(projection, checkpoint_get("customer_order_stats")) == 0:
            return handled
        time.sleep(0.02)
    raise AssertionError("customer_order_stats did not catch up")
