"""Payment records around the (sandbox) gateway: intent, call, result; safe to repeat."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from payments.exceptions import (
    PaymentDeclined,
    PaymentIdempotencyConflict,
    PaymentNotFound,
    PaymentTransientError,
)
from payments.gateway import Authorization, Capture, ChargeState, Refund, Void, get_gateway
from payments.models import Payment, SandboxCharge, SandboxRequest
from payments.selectors import payments_for_order
from payments.services import (
    payment_authorize,
    payment_capture,
    payment_reconcile,
    payment_refund,
    payment_void,
)

pytestmark = pytest.mark.django_db

Status = Payment.Status


def authorize(order_id: uuid.UUID, token: str = "tok_ok", key: str = "o:auth") -> Payment:
    return payment_authorize(
        order_id=order_id,
        amount=Decimal("42.5"),
        currency="eur",
        token=token,
        idempotency_key=key,
    )


@pytest.fixture
def order_id() -> uuid.UUID:
    return uuid.uuid4()


def test_authorize_records_the_authorization(order_id: uuid.UUID) -> None:
    # when
    payment = authorize(order_id)
    # then
    assert payment.status == Status.AUTHORIZED
    assert (payment.amount, payment.currency) == (Decimal("42.50"), "EUR")
    charge = SandboxCharge.objects.get()
    assert payment.gateway_authorization_id == charge.authorization_id
    assert payment.authorized_at is not None


def test_repeating_authorize_returns_the_same_payment_and_charges_once(
    order_id: uuid.UUID,
) -> None:
    # given
    first = authorize(order_id)
    # when
    second = authorize(order_id)
    # then
    assert second.pk == first.pk
    assert SandboxCharge.objects.count() == 1
    assert payments_for_order(order_id=order_id) == [first]


def test_a_declined_card_fails_the_payment_and_a_repeat_does_not_ask_again(
    order_id: uuid.UUID,
) -> None:
    # when
    with pytest.raises(PaymentDeclined) as declined:
        authorize(order_id, "tok_declined")
    # then
    assert declined.value.code == "card_declined"
    payment = Payment.objects.get()
    assert (payment.status, payment.failure_code) == (Status.FAILED, "card_declined")
    with pytest.raises(PaymentDeclined):
        authorize(order_id, "tok_declined")
    assert SandboxRequest.objects.get().attempts == 1


def test_a_flaky_gateway_leaves_the_payment_pending_until_a_retry_succeeds(
    order_id: uuid.UUID,
) -> None:
    # when
    for _ in range(2):
        with pytest.raises(PaymentTransientError):
            authorize(order_id, "tok_flaky")
        assert Payment.objects.get().status == Status.PENDING
    payment = authorize(order_id, "tok_flaky")
    # then
    assert payment.status == Status.AUTHORIZED
    assert payment.failure_code == ""


def test_a_key_reused_for_another_payment_is_refused(order_id: uuid.UUID) -> None:
    # given
    authorize(order_id)
    # when / then
    with pytest.raises(PaymentIdempotencyConflict):
        authorize(uuid.uuid4())


def test_capture_is_idempotent_whatever_the_key(order_id: uuid.UUID) -> None:
    # given
    authorize(order_id)
    # when
    first = payment_capture(order_id=order_id, idempotency_key="o:capture")
    second = payment_capture(order_id=order_id, idempotency_key="o:capture-again")
    # then
    assert first.status == second.status == Status.CAPTURED
    assert first.captured_amount == Decimal("42.50")
    assert second.gateway_capture_id == first.gateway_capture_id
    assert SandboxCharge.objects.get().captured_amount == Decimal("42.50")


def test_a_retried_capture_reuses_the_first_key_at_the_gateway(order_id: uuid.UUID) -> None:
    # given: a capture that failed transiently under its first key
    authorize(order_id, "tok_capture_flaky")
    with pytest.raises(PaymentTransientError):
        payment_capture(order_id=order_id, idempotency_key="k1")
    # when: retried twice under other keys
    with pytest.raises(PaymentTransientError):
        payment_capture(order_id=order_id, idempotency_key="k2")
    payment = payment_capture(order_id=order_id, idempotency_key="k3")
    # then: the gateway saw one key, three times
    assert payment.status == Status.CAPTURED
    assert payment.capture_idempotency_key == "k1"
    assert SandboxRequest.objects.get(idempotency_key="k1").attempts == 3
    assert not SandboxRequest.objects.filter(idempotency_key__in=["k2", "k3"]).exists()


def test_a_refused_capture_keeps_the_authorization_to_be_voided(order_id: uuid.UUID) -> None:
    # given
    authorize(order_id, "tok_capture_fails")
    # when
    with pytest.raises(PaymentDeclined) as refused:
        payment_capture(order_id=order_id, idempotency_key="o:capture")
    # then
    assert refused.value.code == "capture_failed"
    payment = Payment.objects.get()
    assert (payment.status, payment.failure_code) == (Status.AUTHORIZED, "capture_failed")
    voided = payment_void(order_id=order_id, idempotency_key="o:void")
    assert voided is not None
    assert voided.status == Status.VOIDED
    assert SandboxCharge.objects.get().status == SandboxCharge.Status.VOIDED


def test_void_then_capture_is_refused(order_id: uuid.UUID) -> None:
    # given
    authorize(order_id)
    payment_void(order_id=order_id, idempotency_key="o:void")
    # when / then
    with pytest.raises(PaymentDeclined) as refused:
        payment_capture(order_id=order_id, idempotency_key="o:capture")
    assert refused.value.code == "authorization_voided"


def test_void_and_refund_without_any_authorization_do_nothing(order_id: uuid.UUID) -> None:
    assert payment_void(order_id=order_id, idempotency_key="v") is None
    assert payment_refund(order_id=order_id, idempotency_key="r") is None
    with pytest.raises(PaymentNotFound):
        payment_capture(order_id=order_id, idempotency_key="c")


def test_refund_returns_the_money_once_and_void_after_it_is_a_no_op(
    order_id: uuid.UUID,
) -> None:
    # given
    authorize(order_id)
    payment_capture(order_id=order_id, idempotency_key="o:capture")
    # when
    refunded = payment_refund(order_id=order_id, idempotency_key="o:refund")
    again = payment_refund(order_id=order_id, idempotency_key="o:refund")
    voided = payment_void(order_id=order_id, idempotency_key="o:void")
    # then
    assert refunded is not None
    assert again is not None
    assert voided is not None
    assert refunded.status == again.status == voided.status == Status.REFUNDED
    assert refunded.refunded_amount == Decimal("42.50")
    assert SandboxCharge.objects.get().refunded_amount == Decimal("42.50")


def test_void_of_a_captured_payment_and_refund_of_an_uncaptured_one_are_refused(
    order_id: uuid.UUID,
) -> None:
    # given
    authorize(order_id)
    # when / then
    with pytest.raises(PaymentDeclined) as not_captured:
        payment_refund(order_id=order_id, idempotency_key="o:refund")
    assert not_captured.value.code == "not_captured"
    payment_capture(order_id=order_id, idempotency_key="o:capture")
    with pytest.raises(PaymentDeclined) as captured:
        payment_void(order_id=order_id, idempotency_key="o:void")
    assert captured.value.code == "already_captured"


def capture_at_the_gateway_only(payment: Payment) -> None:
    """The gateway captures; its answer never reaches us (the worker died)."""
    get_gateway().capture(
        authorization_id=payment.gateway_authorization_id,
        amount=payment.amount,
        idempotency_key="o:capture",
    )


def test_a_capture_whose_answer_was_lost_is_recorded_then_refunded(order_id: uuid.UUID) -> None:
    # given
    capture_at_the_gateway_only(authorize(order_id))
    # when: the compensation tries a void, then a refund
    with pytest.raises(PaymentDeclined) as voided:
        payment_void(order_id=order_id, idempotency_key="o:void")
    refunded = payment_refund(order_id=order_id, idempotency_key="o:refund")
    # then
    assert voided.value.code == "already_captured"
    assert refunded is not None
    charge = SandboxCharge.objects.get()
    assert (refunded.status, refunded.gateway_capture_id) == (Status.REFUNDED, charge.capture_id)
    assert refunded.captured_amount == refunded.refunded_amount == Decimal("42.50")
    assert charge.captured_amount == charge.refunded_amount == Decimal("42.50")


def test_a_refund_alone_reconciles_a_lost_capture_first(order_id: uuid.UUID) -> None:
    # given
    capture_at_the_gateway_only(authorize(order_id))
    # when
    refunded = payment_refund(order_id=order_id, idempotency_key="o:refund")
    # then
    assert refunded is not None
    assert refunded.status == Status.REFUNDED
    assert SandboxCharge.objects.get().refunded_amount == Decimal("42.50")


def test_reconcile_records_what_the_gateway_did_and_nothing_when_it_agrees(
    order_id: uuid.UUID,
) -> None:
    # given
    payment = authorize(order_id)
    # when / then: nothing happened at the gateway
    reconciled = payment_reconcile(order_id=order_id)
    assert reconciled is not None
    assert reconciled.status == Status.AUTHORIZED
    # when / then: a void whose answer was lost
    get_gateway().void(authorization_id=payment.gateway_authorization_id, idempotency_key="v")
    reconciled = payment_reconcile(order_id=order_id)
    assert reconciled is not None
    assert (reconciled.status, SandboxRequest.objects.filter(operation="void").count()) == (
        Status.VOIDED,
        1,
    )
    assert payment_void(order_id=order_id, idempotency_key="o:void") == reconciled
    assert payment_reconcile(order_id=uuid.uuid4()) is None


def test_a_refund_made_at_the_gateway_is_recorded_and_not_made_twice(
    order_id: uuid.UUID,
) -> None:
    # given: refunded in the gateway's dashboard, under a key that is not ours
    authorize(order_id)
    payment = payment_capture(order_id=order_id, idempotency_key="o:capture")
    get_gateway().refund(
        capture_id=payment.gateway_capture_id, amount=payment.amount, idempotency_key="dashboard"
    )
    # when
    refunded = payment_refund(order_id=order_id, idempotency_key="o:refund")
    # then
    assert refunded is not None
    assert (refunded.status, refunded.refunded_amount) == (Status.REFUNDED, Decimal("42.50"))
    assert SandboxCharge.objects.get().refunded_amount == Decimal("42.50")
    assert SandboxRequest.objects.filter(operation="refund").count() == 1


def capture_and_refund_part_at_the_gateway(order_id: uuid.UUID) -> Payment:
    """Captured 25.00; then staff refunded 10.00 in the gateway's dashboard (not via us)."""
    payment_authorize(
        order_id=order_id,
        amount=Decimal("25.00"),
        currency="EUR",
        token="tok_ok",
        idempotency_key="o:auth",
    )
    payment = payment_capture(order_id=order_id, idempotency_key="o:capture")
    get_gateway().refund(
        capture_id=payment.gateway_capture_id, amount=Decimal("10.00"), idempotency_key="dash"
    )
    return payment


def test_a_partial_refund_made_at_the_gateway_leaves_the_rest_to_refund(
    order_id: uuid.UUID,
) -> None:
    # given
    capture_and_refund_part_at_the_gateway(order_id)
    # when
    refunded = payment_refund(order_id=order_id, idempotency_key="o:refund")
    # then
    assert refunded is not None
    assert (refunded.status, refunded.captured_amount, refunded.refunded_amount) == (
        Status.REFUNDED,
        Decimal("25.00"),
        Decimal("25.00"),
    )
    charge = SandboxCharge.objects.get()
    assert charge.captured_amount == charge.refunded_amount == Decimal("25.00")
    assert Payment.objects.get().refunded_amount == Decimal("25.00")
    # and a repeat does not ask the gateway again
    again = payment_refund(order_id=order_id, idempotency_key="o:refund")
    assert again is not None
    assert again.status == Status.REFUNDED
    assert SandboxRequest.objects.filter(operation="refund").count() == 2


def test_reconcile_records_a_partial_refund_and_keeps_the_payment_captured(
    order_id: uuid.UUID,
) -> None:
    # given
    capture_and_refund_part_at_the_gateway(order_id)
    # when
    reconciled = payment_reconcile(order_id=order_id)
    # then
    assert reconciled is not None
    assert (reconciled.status, reconciled.captured_amount, reconciled.refunded_amount) == (
        Status.CAPTURED,
        Decimal("25.00"),
        Decimal("10.00"),
    )
    assert Payment.objects.get().refunded_amount == Decimal("10.00")


def test_a_refund_stuck_on_a_declined_full_amount_succeeds_on_retry(
    order_id: uuid.UUID,
) -> None:
    # given: a refund of the full amount was sent under our key and refused (as before the
    # partial refund was recorded), so the gateway replays that refusal for the key
    payment = capture_and_refund_part_at_the_gateway(order_id)
    Payment.objects.filter(pk=payment.pk).update(refund_idempotency_key="o:refund")
    with pytest.raises(PaymentDeclined) as refused:
        get_gateway().refund(
            capture_id=payment.gateway_capture_id,
            amount=Decimal("25.00"),
            idempotency_key="o:refund",
        )
    assert refused.value.code == "amount_exceeds_captured"
    # when: staff retry the compensation
    refunded = payment_refund(order_id=order_id, idempotency_key="o:refund:retry")
    # then
    assert refunded is not None
    assert (refunded.status, refunded.refunded_amount) == (Status.REFUNDED, Decimal("25.00"))
    assert SandboxCharge.objects.get().refunded_amount == Decimal("25.00")


class RecordingGateway:
    """Stands in for another gateway adapter, to show the setting is honoured."""

    def authorize(self, **kwargs: object) -> Authorization:
        return Authorization(authorization_id="rec_1", amount=Decimal("42.50"), currency="EUR")

    def capture(self, **kwargs: object) -> Capture:
        raise NotImplementedError

    def void(self, **kwargs: object) -> Void:
        raise NotImplementedError

    def refund(self, **kwargs: object) -> Refund:
        raise NotImplementedError

    def retrieve(self, **kwargs: object) -> ChargeState:
        raise NotImplementedError


def test_the_gateway_is_chosen_by_setting(settings: SettingsWrapper, order_id: uuid.UUID) -> None:
    # given
    settings.PAYMENT_GATEWAY = "tests.payments.test_services.RecordingGateway"
    # when
    payment = authorize(order_id)
    # then
    assert isinstance(get_gateway(), RecordingGateway)
    assert payment.gateway_authorization_id == "rec_1"
    assert not SandboxCharge.objects.exists()
