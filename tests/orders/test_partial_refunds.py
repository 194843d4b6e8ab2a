"""Partial refunds on the Order aggregate, given events → when a command → then events: what
may be refunded (by amount or by lines), what stays refundable, and what the payment status
says once refunds settle. No database."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from eventstore.events import DomainEvent
from orders.domain import (
    Order,
    OrderPaymentRefunded,
    OrderRefundCompleted,
    OrderRefunded,
    OrderRefundFailed,
    OrderRefundRequested,
    PaymentStatus,
    RefundLine,
    RefundStatus,
)
from orders.exceptions import (
    IllegalTransition,
    RefundAmountInvalid,
    RefundExceedsRefundable,
    RefundLineInvalid,
    RefundNotRunning,
)
from orders.projections import order_from_row, order_view_row

from .scenario import AT, DELIVERED, PAID, PAYMENT_ID, SHIPPED, WIDGET, given

# The scenario's order: 2 x WIDGET at 12.50, 25.00 captured.
R1 = UUID("00000000-0000-4000-8000-0000000000e1")
R2 = UUID("00000000-0000-4000-8000-0000000000e2")


def requested(refund_id: UUID, amount: str, *lines: RefundLine) -> OrderRefundRequested:
    return OrderRefundRequested(
        refund_id=refund_id,
        amount=Decimal(amount),
        lines=lines,
        reason="damaged",
        note="",
        occurred_at=AT,
    )


def completed(refund_id: UUID, amount: str) -> OrderRefundCompleted:
    return OrderRefundCompleted(
        refund_id=refund_id, payment_id=PAYMENT_ID, amount=Decimal(amount), occurred_at=AT
    )


def refund(
    order: Order,
    *,
    amount: str | None = None,
    lines: tuple[RefundLine, ...] = (),
    refund_id: UUID | None = None,
) -> None:
    order.refund_part(
        refund_id=refund_id or uuid4(),
        amount=None if amount is None else Decimal(amount),
        lines=lines,
        reason="damaged",
        note="scratched lid",
        at=AT,
    )


@pytest.mark.parametrize(
    "history", [PAID, SHIPPED, DELIVERED], ids=["PAID", "SHIPPED", "DELIVERED"]
)
def test_a_refund_by_amount_is_requested_and_holds_the_amount(
    history: tuple[DomainEvent, ...],
) -> None:
    # given
    order = given(*history)
    status = order.status
    # when
    refund(order, amount="10.00", refund_id=R1)
    # then
    [event] = order.pending_events
    assert isinstance(event, OrderRefundRequested)
    assert (event.refund_id, event.amount, event.lines, event.note) == (
        R1,
        Decimal("10.00"),
        (),
        "scratched lid",
    )
    assert order.status == status
    assert order.payment_status == PaymentStatus.CAPTURED
    assert order.refundable_amount == Decimal("15.00")
    assert order.refunded_amount == Decimal("0")


def test_a_refund_by_lines_is_priced_from_the_order() -> None:
    # given
    order = given(*DELIVERED)
    # when
    refund(order, lines=(RefundLine(product_id=WIDGET.product_id, quantity=1, restock=True),))
    # then
    [event] = order.pending_events
    assert isinstance(event, OrderRefundRequested)
    assert event.amount == Decimal("12.50")
    assert event.lines == (RefundLine(product_id=WIDGET.product_id, quantity=1, restock=True),)
    assert order.returned_quantity(WIDGET.product_id) == 1


def test_a_completed_refund_makes_the_payment_partially_refunded() -> None:
    # given
    order = given(*DELIVERED, requested(R1, "10.00"))
    # when
    order.complete_part_refund(refund_id=R1, payment_id=PAYMENT_ID, amount=Decimal("10.00"), at=AT)
    # then
    assert [e.event_type for e in order.pending_events] == ["OrderRefundCompleted"]
    assert order.payment_status == PaymentStatus.PARTIALLY_REFUNDED
    assert order.status == "DELIVERED"
    assert (order.refunded_amount, order.refundable_amount) == (Decimal("10.00"), Decimal("15.00"))
    assert order.refunds[R1].status == RefundStatus.COMPLETED


def test_refunds_that_add_up_to_the_capture_make_the_payment_refunded_and_keep_the_status() -> None:
    # given
    order = given(*SHIPPED, requested(R1, "10.00"), completed(R1, "10.00"), requested(R2, "15.00"))
    # when
    order.complete_part_refund(refund_id=R2, payment_id=PAYMENT_ID, amount=Decimal("15.00"), at=AT)
    # then
    assert order.payment_status == PaymentStatus.REFUNDED
    assert order.status == "SHIPPED"
    assert order.refundable_amount == Decimal("0")


def test_a_failed_refund_gives_its_amount_and_lines_back() -> None:
    # given
    line = RefundLine(product_id=WIDGET.product_id, quantity=2)
    order = given(*DELIVERED, requested(R1, "25.00", line))
    assert order.refundable_amount == Decimal("0")
    # when
    order.fail_part_refund(refund_id=R1, reason="refund_refused", at=AT)
    # then
    [event] = order.pending_events
    assert isinstance(event, OrderRefundFailed)
    assert order.refundable_amount == Decimal("25.00")
    assert order.returned_quantity(WIDGET.product_id) == 0
    assert order.payment_status == PaymentStatus.CAPTURED


def test_running_refunds_count_against_what_is_refundable() -> None:
    # given: 10.00 came back, 10.00 is on its way
    order = given(
        *DELIVERED, requested(R1, "10.00"), completed(R1, "10.00"), requested(R2, "10.00")
    )
    # when
    with pytest.raises(RefundExceedsRefundable) as raised:
        refund(order, amount="5.01")
    # then
    assert raised.value.extra["refundable_amount"] == "5.00"
    assert order.pending_events == []


@pytest.mark.parametrize("amount", ["0", "-1.00", "1.005"])
def test_an_amount_must_be_positive_with_two_decimals(amount: str) -> None:
    order = given(*DELIVERED)
    with pytest.raises(RefundAmountInvalid):
        refund(order, amount=amount)
    assert order.pending_events == []


def test_amount_and_lines_together_are_refused() -> None:
    order = given(*DELIVERED)
    with pytest.raises(RefundAmountInvalid):
        refund(order, amount="1.00", lines=(RefundLine(product_id=WIDGET.product_id, quantity=1),))


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ((RefundLine(product_id=uuid4(), quantity=1),), "lines.0.product_id"),
        ((RefundLine(product_id=WIDGET.product_id, quantity=3),), "lines.0.quantity"),
        (
            (
                RefundLine(product_id=WIDGET.product_id, quantity=1),
                RefundLine(product_id=WIDGET.product_id, quantity=1),
            ),
            "lines.1.product_id",
        ),
    ],
    ids=["unknown product", "more than bought", "product twice"],
)
def test_lines_the_order_cannot_give_back_are_refused(
    lines: tuple[RefundLine, ...], field: str
) -> None:
    order = given(*DELIVERED)
    with pytest.raises(RefundLineInvalid) as raised:
        refund(order, lines=lines)
    assert list(raised.value.extra["errors"]) == [field]


def test_units_already_returned_cannot_be_returned_again() -> None:
    # given: one of the two widgets came back
    line = RefundLine(product_id=WIDGET.product_id, quantity=1)
    order = given(*DELIVERED, requested(R1, "12.50", line), completed(R1, "12.50"))
    # when / then
    with pytest.raises(RefundLineInvalid):
        refund(order, lines=(RefundLine(product_id=WIDGET.product_id, quantity=2),))
    refund(order, lines=(line,))
    assert order.returned_quantity(WIDGET.product_id) == 2


def test_a_full_refund_waits_for_running_partial_refunds() -> None:
    order = given(*DELIVERED, requested(R1, "10.00"))
    with pytest.raises(IllegalTransition) as raised:
        order.refund(reason="damaged", at=AT)
    assert raised.value.unmet_conditions == ["no_refund_running"]


def test_a_full_refund_after_partial_ones_owes_only_the_rest() -> None:
    # given
    order = given(*DELIVERED, requested(R1, "10.00"), completed(R1, "10.00"))
    # when
    order.refund(reason="damaged", at=AT)
    # then
    [event] = order.pending_events
    assert isinstance(event, OrderRefunded)
    assert event.amount == Decimal("15.00")
    assert order.refundable_amount == Decimal("0")
    # and once paid back, everything captured came back
    order.apply_event(
        OrderPaymentRefunded(payment_id=PAYMENT_ID, amount=Decimal("25.00"), occurred_at=AT)
    )
    assert order.refunded_amount == Decimal("25.00")


def test_a_refund_settles_once() -> None:
    order = given(*DELIVERED, requested(R1, "10.00"), completed(R1, "10.00"), requested(R2, "1.00"))
    with pytest.raises(RefundNotRunning) as raised:
        order.fail_part_refund(refund_id=R1, reason="refund_refused", at=AT)
    assert "already COMPLETED" in str(raised.value)


def test_the_read_model_row_keeps_the_refunds_for_the_next_fold() -> None:
    # given
    line = RefundLine(product_id=WIDGET.product_id, quantity=1, restock=True)
    order = given(
        *DELIVERED, requested(R1, "12.50", line), completed(R1, "12.50"), requested(R2, "3.00")
    )
    # when
    row = order_view_row(order)
    back = order_from_row(row)
    # then
    assert back.refunds == order.refunds
    assert (back.captured_amount, back.refunded_amount, back.refundable_amount) == (
        Decimal("25.00"),
        Decimal("12.50"),
        Decimal("9.50"),
    )
    assert row["refundable_amount"] == Decimal("9.50")


def test_the_snapshot_keeps_the_refunds() -> None:
    line = RefundLine(product_id=WIDGET.product_id, quantity=1, restock=True)
    order = given(*DELIVERED, requested(R1, "12.50", line), completed(R1, "12.50"))
    restored = Order.blank(order.id)
    restored.restore_snapshot_state(order.snapshot_state())
    assert restored.refunds == order.refunds
    assert (restored.captured_amount, restored.refunded_amount) == (
        Decimal("25.00"),
        Decimal("12.50"),
    )
