"""Partial refunds of a payment: one gateway refund per refund id, repeats answered from our
record, and the rule that a refund is given up only when the gateway shows it never paid."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from payments import services
from payments.exceptions import PaymentDeclined, PaymentIdempotencyConflict, PaymentTransientError
from payments.models import Payment, PaymentRefund, SandboxCharge, SandboxRequest
from payments.sandbox import SandboxGateway
from payments.services import (
    payment_authorize,
    payment_capture,
    payment_refund_part,
    payment_refund_part_settle,
)

pytestmark = pytest.mark.django_db


def captured(order_id: uuid.UUID, token: str = "tok_ok") -> Payment:
    payment_authorize(
        order_id=order_id,
        amount=Decimal("40.00"),
        currency="EUR",
        token=token,
        idempotency_key=f"{order_id}:auth",
    )
    return payment_capture(order_id=order_id, idempotency_key=f"{order_id}:capture")


def part(order_id: uuid.UUID, refund_id: uuid.UUID, amount: str) -> PaymentRefund:
    return payment_refund_part(
        order_id=order_id,
        refund_id=refund_id,
        amount=Decimal(amount),
        idempotency_key=f"{refund_id}:refund_payment",
    )


def test_partial_refunds_add_up_and_a_repeat_refunds_once() -> None:
    # given
    order_id, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    captured(order_id)
    # when
    part(order_id, first, "10.00")
    part(order_id, first, "10.00")
    part(order_id, second, "30.00")
    # then
    assert SandboxRequest.objects.filter(operation="refund").count() == 2
    charge = SandboxCharge.objects.get()
    payment = Payment.objects.get()
    assert charge.refunded_amount == payment.refunded_amount == Decimal("40.00")
    assert payment.status == Payment.Status.REFUNDED
    assert set(PaymentRefund.objects.values_list("status", flat=True)) == {"SUCCEEDED"}


def test_a_refund_id_reused_for_another_amount_is_refused() -> None:
    order_id, refund_id = uuid.uuid4(), uuid.uuid4()
    captured(order_id)
    part(order_id, refund_id, "10.00")
    with pytest.raises(PaymentIdempotencyConflict):
        part(order_id, refund_id, "11.00")


def test_a_declined_refund_is_failed_and_given_up_without_asking_again() -> None:
    # given: more than the capture
    order_id, refund_id = uuid.uuid4(), uuid.uuid4()
    captured(order_id)
    with pytest.raises(PaymentDeclined):
        part(order_id, refund_id, "40.01")
    # when
    settled = payment_refund_part_settle(order_id=order_id, refund_id=refund_id)
    # then
    assert settled is not None
    assert settled.status == "FAILED"
    assert settled.failure_code == "amount_exceeds_captured"


def test_a_refund_that_never_reached_us_is_given_up_at_once() -> None:
    order_id = uuid.uuid4()
    captured(order_id)
    assert payment_refund_part_settle(order_id=order_id, refund_id=uuid.uuid4()) is None


def test_a_paid_refund_is_never_given_up() -> None:
    order_id, refund_id = uuid.uuid4(), uuid.uuid4()
    captured(order_id)
    part(order_id, refund_id, "5.00")
    with pytest.raises(PaymentDeclined) as raised:
        payment_refund_part_settle(order_id=order_id, refund_id=refund_id)
    assert raised.value.code == "refund_succeeded"


def test_a_pending_refund_is_given_up_only_when_the_gateway_holds_nothing_unrecorded() -> None:
    # given: our refund failed transiently (the card's refunds always do)
    order_id, refund_id = uuid.uuid4(), uuid.uuid4()
    captured(order_id, token="tok_refund_fails")
    with pytest.raises(PaymentTransientError):
        part(order_id, refund_id, "5.00")
    assert PaymentRefund.objects.get().status == "PENDING"
    # and the gateway holds 5.00 refunded that we cannot account for
    charge = SandboxCharge.objects.get()
    charge.refunded_amount = Decimal("5.00")
    charge.save(update_fields=["refunded_amount"])
    # when / then: not given up while the gateway may have paid it
    with pytest.raises(PaymentTransientError) as raised:
        payment_refund_part_settle(order_id=order_id, refund_id=refund_id)
    assert raised.value.code == "refund_unreconciled"
    assert PaymentRefund.objects.get().status == "PENDING"


def test_a_dashboard_refund_then_ours_keeps_the_payment_equal_to_the_gateway() -> None:
    # given
    order_id = uuid.uuid4()
    payment = captured(order_id)
    SandboxGateway().refund(
        capture_id=payment.gateway_capture_id, amount=Decimal("15.00"), idempotency_key="desk"
    )
    # when
    part(order_id, uuid.uuid4(), "25.00")
    # then
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == ("REFUNDED", Decimal("40.00"))
    assert SandboxCharge.objects.get().refunded_amount == Decimal("40.00")


def test_a_lost_refund_is_not_given_up_when_another_lands_while_we_look(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: a refund the gateway paid but whose answer was lost (ours stays PENDING)
    order_id, lost, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    captured(order_id)
    real_refund = SandboxGateway.refund

    def paid_but_answer_lost(self: SandboxGateway, **kwargs: object) -> object:
        real_refund(self, **kwargs)  # type: ignore[arg-type]
        raise PaymentTransientError("The answer was lost.", code="gateway_unavailable")

    monkeypatch.setattr(SandboxGateway, "refund", paid_but_answer_lost)
    with pytest.raises(PaymentTransientError):
        part(order_id, lost, "10.00")
    monkeypatch.setattr(SandboxGateway, "refund", real_refund)
    assert PaymentRefund.objects.get(pk=lost).status == "PENDING"
    # and: another refund is paid and recorded just after settle has asked the gateway
    real_reconcile = services.payment_reconcile
    injected = []

    def reconcile_then_another_refund(**kwargs: object) -> object:
        payment = real_reconcile(**kwargs)  # type: ignore[arg-type]
        if not injected:
            injected.append(True)
            part(order_id, other, "10.00")
        return payment

    monkeypatch.setattr(services, "payment_reconcile", reconcile_then_another_refund)
    # when / then: the lost refund is not given up (the gateway paid 20.00, we know of 10.00)
    with pytest.raises(PaymentTransientError) as raised:
        payment_refund_part_settle(order_id=order_id, refund_id=lost)
    assert raised.value.code == "refund_unreconciled"
    assert PaymentRefund.objects.get(pk=lost).status == "PENDING"
