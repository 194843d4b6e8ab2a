"""Internal notes on the Order aggregate: given events -> when add_note -> then an
OrderNoteAdded that changes nothing a customer sees, or an error and no event."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from orders.domain import (
    ADD_NOTE,
    NOTE_MAX_LENGTH,
    Actor,
    Order,
    OrderNoteAdded,
    authorize,
    replay,
)
from orders.exceptions import ActionForbidden, IllegalTransition, InvalidNote
from orders.projections import order_view_row

from .scenario import AT, CONFIRMED, CREATED, CUSTOMER_ID, DELIVERED, ORDER_ID, PAID, given, when

AGENT = Actor.staff(uuid4(), {"orders.add_order_note"})


@pytest.mark.parametrize("history", [CREATED, CONFIRMED, PAID, DELIVERED])
def test_staff_add_a_note_in_any_status(history: tuple[object, ...]) -> None:
    # given
    order = given(*history)  # type: ignore[arg-type]
    # when
    events = when(
        order,
        lambda o: o.add_note(author=AGENT, author_name="ada", text="  rang the customer ", at=AT),
    )
    # then
    assert events == [
        OrderNoteAdded(
            author=str(AGENT), author_name="ada", text="rang the customer", occurred_at=AT
        )
    ]


def test_a_note_changes_nothing_the_customer_sees_but_the_version() -> None:
    # given
    order = given(*PAID)
    before = order_view_row(order)
    # when
    order.add_note(author=AGENT, author_name="ada", text="VIP", at=AT + timedelta(days=3))
    # then
    after = order_view_row(order)
    assert after.pop("version") == before.pop("version") + 1
    assert after == before  # updated_at included: it would tell when staff wrote


@pytest.mark.parametrize("text", ["", "   ", "x" * (NOTE_MAX_LENGTH + 1)])
def test_an_empty_or_too_long_note_is_refused(text: str) -> None:
    order = given(*CONFIRMED)
    with pytest.raises(InvalidNote):
        order.add_note(author=AGENT, author_name="ada", text=text, at=AT)
    assert order.pending_events == []


def test_no_note_on_an_order_that_does_not_exist() -> None:
    order = Order.blank(ORDER_ID)
    with pytest.raises(IllegalTransition):
        order.add_note(author=AGENT, author_name="ada", text="hello", at=AT)
    assert order.pending_events == []


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [
        (AGENT, True),
        (Actor.staff(uuid4()), False),  # staff without orders.add_order_note
        (Actor.customer(CUSTOMER_ID), False),  # the order's own customer
        (Actor.staff(CUSTOMER_ID, {"orders.add_order_note"}), False),  # staff on their own order
    ],
)
def test_only_staff_holding_the_permission_may_add_notes(actor: Actor, allowed: bool) -> None:
    if allowed:
        authorize(actor, ADD_NOTE.method, customer_id=CUSTOMER_ID)
    else:
        with pytest.raises(ActionForbidden):
            authorize(actor, ADD_NOTE.method, customer_id=CUSTOMER_ID)


def test_a_note_is_no_lifecycle_transition() -> None:
    # given an order that could be cancelled
    order = given(*CONFIRMED)
    # then notes never appear among the transitions clients are offered
    assert "add_note" not in order.allowed_transitions()
    replayed = replay(
        ORDER_ID,
        [*CONFIRMED, OrderNoteAdded(author="staff:x", author_name="x", text="t", occurred_at=AT)],
    )
    assert replayed.allowed_transitions() == order.allowed_transitions()
    assert replayed.status == order.status
