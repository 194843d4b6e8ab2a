"""The one cancel rule: what cancelling an order means from each status for each actor
(`Order.cancellation_for`), and what `Order.cancel_as` records. Given events -> when the
actor cancels -> then the transition, its permission and the OrderCancelled it records."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest

from orders.domain import (
    SAGA,
    Actor,
    ActorKind,
    OrderCancelled,
    PaymentStatus,
    Refund,
)
from orders.exceptions import ActionForbidden, IllegalTransition

from .scenario import AT, CUSTOMER_ID, LIVE_HISTORIES, given, when

OWNER = Actor.customer(CUSTOMER_ID)
CLERK = Actor.staff(uuid4(), {"orders.cancel_order"})
SUPPORT = Actor.staff(uuid4(), {"orders.cancel_order", "orders.refund_order"})
# Staff on their own order are its customer.
STAFF_OWNER = Actor.staff(CUSTOMER_ID, {"orders.cancel_order", "orders.refund_order"})


@pytest.mark.parametrize(
    ("status", "actor", "method", "permission"),
    [
        ("DRAFT", OWNER, "cancel", "orders.cancel_order"),
        ("DRAFT", SUPPORT, "cancel", "orders.cancel_order"),
        ("DRAFT", SAGA, "cancel", "orders.cancel_order"),
        ("CONFIRMED", OWNER, "cancel", "orders.cancel_order"),
        ("CONFIRMED", CLERK, "cancel", "orders.cancel_order"),
        ("CONFIRMED", SAGA, "cancel", "orders.cancel_order"),
        # a PAID order owes its money back: a different transition, a different permission
        ("PAID", SUPPORT, "cancel_with_refund", "orders.refund_order"),
        ("PAID", CLERK, "cancel_with_refund", "orders.refund_order"),
        ("PAID", SAGA, "cancel_with_refund", "orders.refund_order"),
        # ... which its customer cannot take: they get plain cancel, illegal from PAID
        ("PAID", OWNER, "cancel", "orders.cancel_order"),
        ("PAID", STAFF_OWNER, "cancel", "orders.cancel_order"),
        ("SHIPPED", SUPPORT, "cancel", "orders.cancel_order"),
        ("DELIVERED", SAGA, "cancel", "orders.cancel_order"),
    ],
)
def test_cancelling_means_one_transition_per_status_and_actor(
    status: str, actor: Actor, method: str, permission: str
) -> None:
    # given
    order = given(*LIVE_HISTORIES[status])
    # when
    rule = order.cancellation_for(actor)
    # then
    assert (rule.method, rule.permission) == (method, permission)


@pytest.mark.parametrize(
    ("status", "actor", "refunded", "cancelled_by", "refund", "amount", "payment_status"),
    [
        ("DRAFT", OWNER, False, ActorKind.CUSTOMER, Refund.NONE, "0", PaymentStatus.NONE),
        ("CONFIRMED", CLERK, False, ActorKind.STAFF, Refund.NONE, "0", PaymentStatus.NONE),
        ("CONFIRMED", STAFF_OWNER, False, ActorKind.CUSTOMER, Refund.NONE, "0", "NONE"),
        (
            "CONFIRMED+authorized",
            SAGA,
            False,
            ActorKind.SAGA,
            Refund.NONE,
            "0",
            PaymentStatus.VOIDED,
        ),
        # the saga captured, could not mark the order PAID, and gave the money back
        (
            "CONFIRMED+authorized",
            SAGA,
            True,
            ActorKind.SAGA,
            Refund.RETURNED,
            "25.00",
            PaymentStatus.REFUNDED,
        ),
        ("PAID", SUPPORT, False, ActorKind.STAFF, Refund.OWED, "25.00", "REFUND_PENDING"),
        ("PAID", SAGA, True, ActorKind.SAGA, Refund.RETURNED, "25.00", PaymentStatus.REFUNDED),
    ],
)
def test_the_cancellation_says_who_cancelled_and_what_became_of_the_money(
    status: str,
    actor: Actor,
    refunded: bool,
    cancelled_by: ActorKind,
    refund: Refund,
    amount: str,
    payment_status: str,
) -> None:
    # given
    order = given(*LIVE_HISTORIES[status])
    # when
    events = when(order, lambda o: o.cancel_as(actor, reason="r", refunded=refunded, at=AT))
    # then
    assert events == [
        OrderCancelled(
            reason="r",
            cancelled_by=cancelled_by,
            refund=refund,
            refund_amount=Decimal(amount),
            occurred_at=AT,
        )
    ]
    assert order.status == "CANCELLED"
    assert order.payment_status == payment_status


@pytest.mark.parametrize(
    ("status", "actor", "required_permission"),
    [
        ("CONFIRMED", Actor.staff(uuid4()), "orders.cancel_order"),
        ("CONFIRMED", Actor.staff(uuid4(), {"orders.refund_order"}), "orders.cancel_order"),
        ("PAID", CLERK, "orders.refund_order"),
        ("CONFIRMED", Actor.customer(uuid4()), None),
    ],
)
def test_an_actor_without_the_rules_permission_is_refused(
    status: str, actor: Actor, required_permission: str | None
) -> None:
    # given
    order = given(*LIVE_HISTORIES[status])
    # when
    with pytest.raises(ActionForbidden) as raised:
        order.cancel_as(actor, reason="r", at=AT)
    # then
    assert raised.value.required_permission == required_permission
    assert order.pending_events == []


@pytest.mark.parametrize(
    ("status", "actor"),
    [("PAID", OWNER), ("PAID", STAFF_OWNER), ("SHIPPED", SUPPORT), ("DELIVERED", SAGA)],
)
def test_cancelling_where_the_rule_allows_no_cancel_is_illegal(status: str, actor: Actor) -> None:
    # given
    order = given(*LIVE_HISTORIES[status])
    # when
    with pytest.raises(IllegalTransition) as raised:
        order.cancel_as(actor, reason="r", at=AT)
    # then
    assert raised.value.transition == "cancel"
    assert order.pending_events == []
