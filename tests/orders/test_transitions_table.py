"""Every (status, command) pair: each illegal one is rejected before any event exists, each
legal one emits the right event and lands in the right status.

The expected table below is written out by hand on purpose: it is the specification the
aggregate's TRANSITIONS must match, not a copy of it.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from eventstore.events import DomainEvent
from orders.domain import (
    TRANSITIONS,
    ActorKind,
    Order,
    OrderCancelled,
    OrderPaymentRefunded,
    OrderRefunded,
    OrderRefundRequested,
    Refund,
)
from orders.exceptions import IllegalTransition

from .scenario import (
    ADDRESS,
    AT,
    CONFIRMED,
    CUSTOMER_ID,
    DELIVERED,
    LIVE_HISTORIES,
    PAID,
    PAYMENT_ID,
    WIDGET,
    catalogue_item,
    given,
)

_REFUND = OrderRefunded(reason="damaged", amount=Decimal("25.00"), occurred_at=AT)
REFUND_ID = UUID("00000000-0000-4000-8000-0000000000f1")
_PART_REFUND = OrderRefundRequested(
    refund_id=REFUND_ID,
    amount=Decimal("5.00"),
    lines=(),
    reason="late_delivery",
    note="",
    occurred_at=AT,
)

HISTORIES: dict[str, tuple[DomainEvent, ...]] = {
    "NEW": (),
    **LIVE_HISTORIES,
    "CANCELLED": (
        *CONFIRMED,
        OrderCancelled(
            reason="changed_mind",
            cancelled_by=ActorKind.CUSTOMER,
            refund=Refund.NONE,
            refund_amount=Decimal("0"),
            occurred_at=AT,
        ),
    ),
    "CANCELLED+refund pending": (
        *PAID,
        OrderCancelled(
            reason="out_of_stock",
            cancelled_by=ActorKind.STAFF,
            refund=Refund.OWED,
            refund_amount=Decimal("25.00"),
            occurred_at=AT,
        ),
    ),
    "PAID+part refund running": (*PAID, _PART_REFUND),
    "DELIVERED+part refund running": (*DELIVERED, _PART_REFUND),
    "REFUNDED+refund pending": (*DELIVERED, _REFUND),
    "REFUNDED": (
        *DELIVERED,
        _REFUND,
        OrderPaymentRefunded(payment_id=PAYMENT_ID, amount=Decimal("25.00"), occurred_at=AT),
    ),
}

COMMANDS: dict[str, Callable[[Order], None]] = {
    "create": lambda o: o.create(customer_id=CUSTOMER_ID, currency="EUR", at=AT),
    "add_item": lambda o: o.add_item(item=catalogue_item(), quantity=1, at=AT),
    "change_item_quantity": lambda o: o.change_item_quantity(
        product_id=WIDGET.product_id, quantity=5, at=AT
    ),
    "remove_item": lambda o: o.remove_item(product_id=WIDGET.product_id, at=AT),
    "set_shipping_address": lambda o: o.set_shipping_address(address=ADDRESS, at=AT),
    "confirm": lambda o: o.confirm(payment_token="tok_ok", at=AT),
    "authorize_payment": lambda o: o.authorize_payment(
        payment_id=PAYMENT_ID, amount=Decimal("25.00"), at=AT
    ),
    "mark_paid": lambda o: o.mark_paid(payment_id=PAYMENT_ID, at=AT),
    "ship": lambda o: o.ship(carrier="DHL", tracking_number="JD1", at=AT),
    "deliver": lambda o: o.deliver(at=AT),
    "cancel": lambda o: o.cancel(reason="changed_mind", by=ActorKind.CUSTOMER, at=AT),
    "cancel_with_refund": lambda o: o.cancel_with_refund(
        reason="out_of_stock", by=ActorKind.STAFF, at=AT
    ),
    "refund": lambda o: o.refund(reason="damaged", at=AT),
    "record_refund": lambda o: o.record_refund(
        payment_id=PAYMENT_ID, amount=Decimal("25.00"), at=AT
    ),
    "refund_part": lambda o: o.refund_part(
        refund_id=uuid4(), amount=Decimal("1.00"), lines=(), reason="late", note="", at=AT
    ),
    "complete_part_refund": lambda o: o.complete_part_refund(
        refund_id=REFUND_ID, payment_id=PAYMENT_ID, amount=Decimal("5.00"), at=AT
    ),
    "fail_part_refund": lambda o: o.fail_part_refund(
        refund_id=REFUND_ID, reason="refund_refused", at=AT
    ),
}

# (history, command) -> (event type, status after). Every pair not listed is illegal.
LEGAL: dict[tuple[str, str], tuple[str, str]] = {
    ("NEW", "create"): ("OrderCreated", "DRAFT"),
    ("DRAFT", "add_item"): ("OrderItemAdded", "DRAFT"),
    ("DRAFT", "change_item_quantity"): ("OrderItemQuantityChanged", "DRAFT"),
    ("DRAFT", "remove_item"): ("OrderItemRemoved", "DRAFT"),
    ("DRAFT", "set_shipping_address"): ("ShippingAddressSet", "DRAFT"),
    ("DRAFT", "confirm"): ("OrderConfirmed", "CONFIRMED"),
    ("DRAFT", "cancel"): ("OrderCancelled", "CANCELLED"),
    ("CONFIRMED", "authorize_payment"): ("OrderPaymentAuthorized", "CONFIRMED"),
    ("CONFIRMED", "cancel"): ("OrderCancelled", "CANCELLED"),
    ("CONFIRMED+authorized", "mark_paid"): ("OrderPaid", "PAID"),
    ("CONFIRMED+authorized", "cancel"): ("OrderCancelled", "CANCELLED"),
    ("PAID", "ship"): ("OrderShipped", "SHIPPED"),
    ("PAID", "cancel_with_refund"): ("OrderCancelled", "CANCELLED"),
    ("SHIPPED", "deliver"): ("OrderDelivered", "DELIVERED"),
    ("SHIPPED", "refund"): ("OrderRefunded", "REFUNDED"),
    ("DELIVERED", "refund"): ("OrderRefunded", "REFUNDED"),
    ("PAID", "refund_part"): ("OrderRefundRequested", "PAID"),
    ("SHIPPED", "refund_part"): ("OrderRefundRequested", "SHIPPED"),
    ("DELIVERED", "refund_part"): ("OrderRefundRequested", "DELIVERED"),
    # While a partial refund runs: more partial refunds, shipping and delivery go on, a
    # full refund (or cancelling with one) waits until it settles.
    ("PAID+part refund running", "ship"): ("OrderShipped", "SHIPPED"),
    ("PAID+part refund running", "refund_part"): ("OrderRefundRequested", "PAID"),
    ("PAID+part refund running", "complete_part_refund"): ("OrderRefundCompleted", "PAID"),
    ("PAID+part refund running", "fail_part_refund"): ("OrderRefundFailed", "PAID"),
    ("DELIVERED+part refund running", "refund_part"): ("OrderRefundRequested", "DELIVERED"),
    ("DELIVERED+part refund running", "complete_part_refund"): (
        "OrderRefundCompleted",
        "DELIVERED",
    ),
    ("DELIVERED+part refund running", "fail_part_refund"): ("OrderRefundFailed", "DELIVERED"),
    ("CANCELLED+refund pending", "record_refund"): ("OrderPaymentRefunded", "CANCELLED"),
    ("REFUNDED+refund pending", "record_refund"): ("OrderPaymentRefunded", "REFUNDED"),
}

PAIRS = [(state, command) for state in HISTORIES for command in COMMANDS]


def test_the_table_covers_every_transition_of_the_aggregate() -> None:
    assert set(COMMANDS) == {rule.method for rule in TRANSITIONS}


@pytest.mark.parametrize(("state", "command"), PAIRS, ids=[f"{s}-{c}" for s, c in PAIRS])
def test_command_in_status(state: str, command: str) -> None:
    # given
    order = given(*HISTORIES[state])
    status_before, version_before = order.status, order.version
    expected = LEGAL.get((state, command))
    if expected is None:
        # when
        with pytest.raises(IllegalTransition) as raised:
            COMMANDS[command](order)
        # then
        assert raised.value.current_status == status_before
        assert command not in raised.value.allowed_transitions
        assert order.pending_events == []
        assert (order.status, order.version) == (status_before, version_before)
    else:
        event_type, status_after = expected
        # when
        COMMANDS[command](order)
        # then
        assert [e.event_type for e in order.pending_events] == [event_type]
        assert order.status == status_after
        assert order.version == version_before + 1
