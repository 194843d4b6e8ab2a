"""The order-fulfilment saga driven in this process (`saga_advance`, no worker): every
failure point with its compensations, and what order, stock and payment look like after.
Real PostgreSQL, the sandbox gateway, the real order commands and inventory services."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone
from prometheus_client import REGISTRY
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from accounts.models import User
from inventory.services import reservations_expire
from orders.domain import saga_id_for
from payments.models import Payment, SandboxCharge
from sagas.domain import SagaStatus, StepContext, StepKind
from sagas.fulfilment import (
    AUTHORIZE_PAYMENT,
    CAPTURE_PAYMENT,
    RESERVE_STOCK,
    SEND_CONFIRMATION,
    authorize_payment,
    cancel_order,
    capture_payment,
    fulfilment_timeouts_enforce,
    release_stock,
    reserve_stock,
    void_or_refund_payment,
)
from sagas.models import SagaInstance
from sagas.services import Advance, saga_advance, saga_compensate, saga_retry, saga_start
from tests.sagas import gateways
from tests.sagas.shop import (
    advance,
    assert_stock_consistent,
    charges,
    confirmed_order,
    context_for,
    gateway_requests,
    ledger_rows,
    order,
    payments,
    reservation_statuses,
    run_with_outcome_lost,
    saga_of,
    stock,
    stocked_product,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_retries(settings: SettingsWrapper) -> None:
    settings.SAGA_RETRY_MAX_ATTEMPTS = 3
    settings.SAGA_RETRY_BASE_DELAY = timedelta(milliseconds=5)
    settings.SAGA_RETRY_MAX_DELAY = timedelta(milliseconds=20)
    settings.SAGA_RETRY_JITTER = 0.0
    settings.SAGA_COMPENSATION_MAX_ATTEMPTS = 2


def test_confirming_an_order_starts_its_saga_once_without_the_card_token(
    customer: User,
) -> None:
    # given
    mug = stocked_product(5)
    # when
    order_id = confirmed_order(customer, [(mug, 2)], token="tok_ok")
    # then
    saga = saga_of(order_id)
    assert saga.saga_type == "order_fulfilment"
    assert saga.status == SagaStatus.RUNNING
    assert saga.owner_id == customer.pk
    assert saga.correlation_id == str(order_id)
    assert saga.saga_data == {"order_id": str(order_id)}
    assert "tok_ok" not in str(advance(order_id).saga_data)
    assert not saga_start(
        saga_type="order_fulfilment",
        saga_id=saga_id_for(order_id),
        correlation_id=str(order_id),
        data={"order_id": str(order_id)},
    )


def test_happy_path_pays_the_order_commits_the_stock_and_sends_the_confirmation(
    customer: User,
) -> None:
    # given
    mug, tea = stocked_product(5, price="12.50"), stocked_product(3, price="4.00")
    order_id = confirmed_order(customer, [(mug, 2), (tea, 1)])
    # when
    saga = advance(order_id)
    # then
    assert saga.status == SagaStatus.COMPLETED
    assert saga.completed_steps == [
        "order_confirmed",
        "reserve_stock",
        "authorize_payment",
        "capture_payment",
        "send_confirmation",
    ]
    paid = order(order_id)
    assert (paid.status, paid.payment_status) == ("PAID", "CAPTURED")
    [payment] = payments(order_id)
    assert (payment.status, payment.captured_amount) == ("CAPTURED", Decimal("29.00"))
    assert paid.payment_id == payment.id
    assert [c.status for c in charges(order_id)] == ["CAPTURED"]
    assert stock(mug) == (3, 0)
    assert stock(tea) == (2, 0)
    assert reservation_statuses(order_id) == ["COMMITTED", "COMMITTED"]
    assert_stock_consistent()
    [email] = mail.outbox
    assert email.to == [customer.email]
    assert email.subject == f"Your order is confirmed ({str(order_id)[:8]})"
    assert "29.00 EUR" in email.body


def test_out_of_stock_cancels_the_order_and_takes_no_money(customer: User) -> None:
    # given
    mug, tea = stocked_product(5), stocked_product(1)
    order_id = confirmed_order(customer, [(mug, 2), (tea, 2)])
    # when
    saga = advance(order_id)
    # then
    assert (saga.status, saga.failure_reason) == (SagaStatus.COMPENSATED, "out_of_stock")
    assert saga.compensated_steps == ["order_confirmed"]
    cancelled = order(order_id)
    assert (cancelled.status, cancelled.cancellation_reason) == ("CANCELLED", "out_of_stock")
    assert payments(order_id) == []
    assert stock(mug) == (5, 0)
    assert stock(tea) == (1, 0)
    assert reservation_statuses(order_id) == []
    assert_stock_consistent()


def test_declined_card_releases_the_stock_and_cancels_the_order(customer: User) -> None:
    # given
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 2)], token="tok_declined")
    # when
    saga = advance(order_id)
    # then
    assert (saga.status, saga.failure_reason) == (SagaStatus.COMPENSATED, "payment_declined")
    assert saga.compensated_steps == ["reserve_stock", "order_confirmed"]
    cancelled = order(order_id)
    assert (cancelled.status, cancelled.cancellation_reason) == ("CANCELLED", "payment_declined")
    assert [(p.status, p.failure_code) for p in payments(order_id)] == [("FAILED", "card_declined")]
    assert charges(order_id) == []
    assert stock(mug) == (5, 0)
    assert reservation_statuses(order_id) == ["RELEASED"]
    assert_stock_consistent()


def test_failed_capture_voids_the_authorization_and_releases_the_stock(customer: User) -> None:
    # given
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 2)], token="tok_capture_fails")
    # when
    saga = advance(order_id)
    # then
    assert (saga.status, saga.failure_reason) == (SagaStatus.COMPENSATED, "payment_failed")
    assert saga.compensated_steps == ["authorize_payment", "reserve_stock", "order_confirmed"]
    cancelled = order(order_id)
    assert (cancelled.status, cancelled.cancellation_reason) == ("CANCELLED", "payment_failed")
    assert [p.status for p in payments(order_id)] == ["VOIDED"]
    assert [(c.status, c.captured_amount) for c in charges(order_id)] == [("VOIDED", 0)]
    assert stock(mug) == (5, 0)
    assert reservation_statuses(order_id) == ["RELEASED"]
    assert_stock_consistent()


def test_a_failing_confirmation_email_is_retried_recorded_and_undoes_nothing(
    customer: User, settings: SettingsWrapper
) -> None:
    # given: the mail server is down
    settings.EMAIL_BACKEND = "tests.sagas.mail.FailingEmailBackend"
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 1)])
    # when
    saga = advance(order_id)
    # then
    assert saga.status == SagaStatus.COMPLETED
    assert saga.compensated_steps == []
    assert "mail server unavailable" in saga.last_error
    attempts = list(saga.step_log.filter(step=SEND_CONFIRMATION).values_list("outcome", flat=True))
    assert attempts == ["RETRY", "RETRY", "FAILED"]
    assert order(order_id).status == "PAID"
    assert [p.status for p in payments(order_id)] == ["CAPTURED"]
    assert stock(mug) == (4, 0)


def test_a_passed_step_deadline_cancels_with_reason_timeout(
    customer: User, settings: SettingsWrapper
) -> None:
    # given: the gateway keeps timing out, retries are slow and the step deadline is short
    settings.SAGA_RETRY_MAX_ATTEMPTS = 10
    settings.SAGA_RETRY_BASE_DELAY = settings.SAGA_RETRY_MAX_DELAY = timedelta(seconds=30)
    settings.FULFILMENT_STEP_DEADLINE = timedelta(milliseconds=300)
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 2)], token="tok_unavailable")
    # when: the retry is woken at the deadline, which has passed by then
    saga = advance(order_id)
    # then
    assert (saga.status, saga.failure_reason) == (SagaStatus.COMPENSATED, "timeout")
    outcomes = saga.step_log.filter(step=AUTHORIZE_PAYMENT).values_list("outcome", flat=True)
    assert list(outcomes) == ["RETRY", "FAILED"]
    cancelled = order(order_id)
    assert (cancelled.status, cancelled.cancellation_reason) == ("CANCELLED", "timeout")
    assert [p.status for p in payments(order_id)] == ["PENDING"]  # never authorized
    assert stock(mug) == (5, 0)
    assert_stock_consistent()


def test_an_order_unpaid_after_the_payment_timeout_is_cancelled_and_its_stock_released(
    customer: User, settings: SettingsWrapper
) -> None:
    # given: stuck retrying the authorization, with a long wait before the next attempt
    settings.SAGA_RETRY_MAX_ATTEMPTS = 10
    settings.SAGA_RETRY_BASE_DELAY = settings.SAGA_RETRY_MAX_DELAY = timedelta(minutes=1)
    settings.FULFILMENT_PAYMENT_TIMEOUT = timedelta(minutes=10)
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 2)], token="tok_unavailable")
    assert advance(order_id, until_step=AUTHORIZE_PAYMENT).current_step == AUTHORIZE_PAYMENT
    assert saga_advance(saga_id=saga_id_for(order_id)) == Advance.RAN  # attempt 1 fails
    assert saga_advance(saga_id=saga_id_for(order_id)) == Advance.NOT_DUE
    # when: the beat task runs before, then after the timeout
    early = fulfilment_timeouts_enforce(now=timezone.now() + timedelta(minutes=9))
    late = fulfilment_timeouts_enforce(now=timezone.now() + timedelta(minutes=11))
    saga = advance(order_id)
    # then
    assert (early, late) == (0, 1)
    assert (saga.status, saga.failure_reason) == (SagaStatus.COMPENSATED, "timeout")
    cancelled = order(order_id)
    assert (cancelled.status, cancelled.cancellation_reason) == ("CANCELLED", "timeout")
    assert stock(mug) == (5, 0)
    assert reservation_statuses(order_id) == ["RELEASED"]


def test_the_payment_timeout_leaves_sagas_at_or_past_the_capture_alone(
    customer: User, settings: SettingsWrapper
) -> None:
    # given: one saga waiting to capture, one completed
    settings.FULFILMENT_PAYMENT_TIMEOUT = timedelta(minutes=10)
    mug = stocked_product(5)
    capturing = confirmed_order(customer, [(mug, 1)])
    advance(capturing, until_step=CAPTURE_PAYMENT)
    paid = confirmed_order(customer, [(mug, 1)])
    advance(paid)
    # when
    timed_out = fulfilment_timeouts_enforce(now=timezone.now() + timedelta(hours=1))
    # then
    assert timed_out == 0
    assert saga_of(capturing).status == SagaStatus.RUNNING
    assert advance(capturing).status == SagaStatus.COMPLETED
    assert order(paid).status == "PAID"


def test_a_flaky_gateway_succeeds_after_retries_with_one_payment(customer: User) -> None:
    # given
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 1)], token="tok_flaky")
    # when
    saga = advance(order_id)
    # then
    assert saga.status == SagaStatus.COMPLETED
    outcomes = saga.step_log.filter(step=AUTHORIZE_PAYMENT).values_list("outcome", flat=True)
    assert list(outcomes) == ["RETRY", "RETRY", "SUCCEEDED"]
    assert [p.status for p in payments(order_id)] == ["CAPTURED"]
    assert len(charges(order_id)) == 1
    assert order(order_id).status == "PAID"


@pytest.mark.parametrize(
    ("cancel_before", "payment_statuses"),
    [
        (RESERVE_STOCK, []),
        (AUTHORIZE_PAYMENT, []),
        (CAPTURE_PAYMENT, ["VOIDED"]),
    ],
)
def test_a_customer_cancelling_while_the_saga_runs_ends_with_no_money_taken_and_no_stock_held(
    customer: User, customer_client: APIClient, cancel_before: str, payment_statuses: list[str]
) -> None:
    # given
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 2)])
    advance(order_id, until_step=cancel_before)
    # when
    response = customer_client.post(f"/api/v1/orders/{order_id}/cancel/", {}, format="json")
    saga = advance(order_id)
    # then
    assert response.status_code == 200, response.content
    assert (saga.status, saga.failure_reason) == (SagaStatus.COMPENSATED, "cancelled_by_customer")
    cancelled = order(order_id)
    assert (cancelled.status, cancelled.cancellation_reason) == (
        "CANCELLED",
        "requested_by_customer",
    )
    assert [p.status for p in payments(order_id)] == payment_statuses
    assert all(c.captured_amount == 0 for c in charges(order_id))
    assert stock(mug) == (5, 0)
    assert_stock_consistent()


def test_a_cancel_between_capture_and_paid_refunds_the_capture_and_returns_the_stock(
    customer: User, settings: SettingsWrapper
) -> None:
    # given: the customer cancels the moment after the money was captured
    settings.PAYMENT_GATEWAY = "tests.sagas.gateways.CancellingCaptureGateway"
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 2)])
    # when
    saga = advance(order_id)
    # then: marking it PAID failed, so the capture was refunded and the stock came back
    assert (saga.status, saga.failure_reason) == (SagaStatus.COMPENSATED, "cancelled_by_customer")
    assert (order(order_id).status, order(order_id).payment_status) == ("CANCELLED", "REFUNDED")
    [payment] = payments(order_id)
    assert (payment.status, payment.refunded_amount) == ("REFUNDED", Decimal("25.00"))
    [charge] = charges(order_id)
    assert charge.captured_amount == charge.refunded_amount == Decimal("25.00")
    assert stock(mug) == (5, 0)
    assert reservation_statuses(order_id) == ["RETURNED"]
    assert_stock_consistent()


def test_compensations_run_again_change_nothing(customer: User) -> None:
    # given: a saga compensated after a failed capture
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 2)], token="tok_capture_fails")
    saga = advance(order_id)
    before = (
        order(order_id).version,
        [p.status for p in payments(order_id)],
        gateway_requests("void"),
        ledger_rows(order_id),
        stock(mug),
    )
    # when: every compensation is delivered again, twice
    for _ in range(2):
        for step, compensation in (
            (AUTHORIZE_PAYMENT, void_or_refund_payment),
            (RESERVE_STOCK, release_stock),
            ("order_confirmed", cancel_order),
        ):
            compensation(context_for(saga, step, StepKind.COMPENSATION))
    # then
    after = (
        order(order_id).version,
        [p.status for p in payments(order_id)],
        gateway_requests("void"),
        ledger_rows(order_id),
        stock(mug),
    )
    assert after == before
    assert before[1:3] == (["VOIDED"], 1)


def test_reservations_of_an_order_whose_saga_is_running_do_not_expire(customer: User) -> None:
    # given: reserved, the saga waits at the authorization
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 2)])
    advance(order_id, until_step=AUTHORIZE_PAYMENT)
    # when: the expiry task runs long after the reservation's expiry
    expired = reservations_expire(now=timezone.now() + timedelta(days=1))
    # then
    assert expired == 0
    assert reservation_statuses(order_id) == ["ACTIVE"]
    assert advance(order_id).status == SagaStatus.COMPLETED


def test_the_order_owner_reads_the_saga_the_order_links_to(
    customer: User, customer_client: APIClient, other_customer_client: APIClient
) -> None:
    # given
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 1)])
    advance(order_id)
    # when
    link = customer_client.get(f"/api/v1/orders/{order_id}/").json()["links"]["saga"]
    mine = customer_client.get(link)
    theirs = other_customer_client.get(link)
    # then
    assert link == f"/api/v1/sagas/{saga_id_for(order_id)}/"
    assert mine.status_code == 200
    body = mine.json()
    assert (body["status"], body["type"]) == ("COMPLETED", "order_fulfilment")
    assert [s["state"] for s in body["steps"]] == ["SUCCEEDED"] * 5
    assert "saga_data" not in body
    assert theirs.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_same_step_delivered_twice_concurrently_runs_once(
    customer: User, settings: SettingsWrapper
) -> None:
    # given: a saga at its capture step, and a gateway that holds a capture until we let go
    settings.PAYMENT_GATEWAY = "tests.sagas.gateways.CaptureHoldingGateway"
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 1)])
    saga_id = saga_id_for(order_id)
    advance(order_id, until_step=CAPTURE_PAYMENT)
    results: dict[str, Advance] = {}

    def deliver(name: str) -> None:
        from django.db import connection

        try:
            results[name] = saga_advance(saga_id=saga_id)
        finally:
            connection.close()

    # when: the first delivery is inside the capture when the second arrives
    with gateways.hold():
        first = threading.Thread(target=deliver, args=("first",))
        first.start()
        deadline = timezone.now() + timedelta(seconds=10)
        while not gateways.waiting() and timezone.now() < deadline:
            threading.Event().wait(0.01)
        assert gateways.waiting() == 1
        second = threading.Thread(target=deliver, args=("second",))
        second.start()
        second.join(timeout=10)
    first.join(timeout=10)
    # then
    assert results == {"first": Advance.RAN, "second": Advance.LEASED}
    saga = SagaInstance.objects.get(pk=saga_id)
    assert saga.current_step == SEND_CONFIRMATION
    assert saga.step_log.filter(step=CAPTURE_PAYMENT).count() == 1
    assert gateway_requests("capture") == 1
    assert SandboxCharge.objects.filter(status="CAPTURED").count() == 1
    assert Payment.objects.get(order_id=order_id).status == "CAPTURED"
    assert stock(mug) == (4, 0)


def test_a_capture_whose_outcome_was_lost_and_then_timed_out_is_undone_completely(
    customer: User,
) -> None:
    # given: a worker ran the whole capture step (the order is PAID) and died before
    # recording it; by the time the step is claimed again its deadline has passed
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 2)])
    saga = advance(order_id, until_step=CAPTURE_PAYMENT)
    run_with_outcome_lost(capture_payment, context_for(saga, CAPTURE_PAYMENT))
    assert order(order_id).status == "PAID"
    SagaInstance.objects.filter(pk=saga.pk).update(
        step_deadline_at=timezone.now() - timedelta(seconds=1)
    )
    # when
    saga = advance(order_id)
    # then: money back, stock back, order cancelled (through the PAID → CANCELLED
    # transition, with the refund already made, so no refund saga is owed)
    assert (saga.status, saga.failure_reason) == (SagaStatus.COMPENSATED, "timeout")
    cancelled = order(order_id)
    assert (cancelled.status, cancelled.payment_status) == ("CANCELLED", "REFUNDED")
    assert cancelled.cancellation_reason == "timeout"
    assert [p.status for p in payments(order_id)] == ["REFUNDED"]
    assert stock(mug) == (5, 0)
    assert reservation_statuses(order_id) == ["RETURNED"]
    assert not SagaInstance.objects.filter(saga_type="order_refund").exists()
    assert_stock_consistent()


def lose_a_capture(order_id: uuid.UUID, settings: SettingsWrapper) -> SagaInstance:
    """Run the saga to its capture step and capture at the bank, recording nothing more: what
    a worker killed right after the gateway's capture leaves behind."""
    saga = advance(order_id, until_step=CAPTURE_PAYMENT)
    settings.PAYMENT_GATEWAY = "tests.sagas.gateways.CaptureLosingGateway"
    with pytest.raises(gateways.WorkerDied):
        capture_payment(context_for(saga, CAPTURE_PAYMENT))
    settings.PAYMENT_GATEWAY = "payments.sandbox.SandboxGateway"
    [charge] = charges(order_id)
    assert (charge.status, charge.captured_amount) == ("CAPTURED", Decimal("25.00"))
    assert [p.status for p in payments(order_id)] == ["AUTHORIZED"]
    return saga


def deadline_passes(saga: SagaInstance, client: APIClient) -> None:
    SagaInstance.objects.filter(pk=saga.pk).update(
        step_deadline_at=timezone.now() - timedelta(seconds=1)
    )


def customer_cancels(saga: SagaInstance, client: APIClient) -> None:
    response = client.post(f"/api/v1/orders/{saga.correlation_id}/cancel/", {}, format="json")
    assert response.status_code == 200, response.content


def staff_retry_after_the_refund_was_refused(saga: SagaInstance, client: APIClient) -> None:
    """The saga as the code before reconciliation left it: compensating after the deadline,
    FAILED on "refund refused: not_captured"; staff press *Retry*."""
    saga_compensate(saga_id=saga.pk, reason="timeout", actor="deadline")
    SagaInstance.objects.filter(pk=saga.pk).update(
        status=SagaStatus.FAILED,
        next_attempt_at=None,
        last_error="refund refused: not_captured: Only a captured payment can be refunded.",
    )
    saga_retry(saga_id=saga.pk, actor="staff")


@pytest.mark.parametrize(
    ("then", "reason", "order_payment_status"),
    [
        (deadline_passes, "timeout", "REFUNDED"),
        # cancelled before it was PAID, yet the bank captured: the refund is recorded too
        (customer_cancels, "cancelled_by_customer", "REFUNDED"),
        (staff_retry_after_the_refund_was_refused, "timeout", "REFUNDED"),
    ],
)
def test_a_capture_whose_outcome_was_lost_is_reconciled_and_refunded(
    customer: User,
    customer_client: APIClient,
    settings: SettingsWrapper,
    then: Callable[[SagaInstance, APIClient], None],
    reason: str,
    order_payment_status: str,
) -> None:
    # given: the bank captured, the worker died before the payment row said so
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 2)])
    saga = lose_a_capture(order_id, settings)
    then(saga, customer_client)
    # when
    saga = advance(order_id)
    # then: the compensation asked the gateway, recorded the capture and refunded it
    assert (saga.status, saga.failure_reason) == (SagaStatus.COMPENSATED, reason), saga.last_error
    [charge] = charges(order_id)
    assert charge.captured_amount == charge.refunded_amount == Decimal("25.00")
    [payment] = payments(order_id)
    assert (payment.status, payment.captured_amount, payment.refunded_amount) == (
        "REFUNDED",
        Decimal("25.00"),
        Decimal("25.00"),
    )
    assert payment.gateway_capture_id == charge.capture_id
    cancelled = order(order_id)
    assert (cancelled.status, cancelled.payment_status) == ("CANCELLED", order_payment_status)
    assert stock(mug) == (5, 0)
    assert reservation_statuses(order_id) == ["RELEASED"]
    assert not SagaInstance.objects.filter(saga_type="order_refund").exists()
    assert_stock_consistent()


def test_an_authorization_whose_outcome_was_lost_is_voided_when_the_saga_times_out(
    customer: User,
) -> None:
    # given: a worker authorized at the gateway and died before recording the step, and the
    # step's deadline passed before anyone claimed it again
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 2)])
    saga = advance(order_id, until_step=AUTHORIZE_PAYMENT)
    run_with_outcome_lost(authorize_payment, context_for(saga, AUTHORIZE_PAYMENT))
    assert [p.status for p in payments(order_id)] == ["AUTHORIZED"]
    SagaInstance.objects.filter(pk=saga.pk).update(
        step_deadline_at=timezone.now() - timedelta(seconds=1)
    )
    # when
    saga = advance(order_id)
    # then: the hold on the card is released, not left to expire days later
    assert (saga.status, saga.failure_reason) == (SagaStatus.COMPENSATED, "timeout")
    assert [p.status for p in payments(order_id)] == ["VOIDED"]
    cancelled = order(order_id)
    assert (cancelled.status, cancelled.cancellation_reason) == ("CANCELLED", "timeout")
    assert stock(mug) == (5, 0)
    assert_stock_consistent()


@pytest.mark.parametrize(
    ("step", "run", "payment_statuses"),
    [(RESERVE_STOCK, reserve_stock, []), (AUTHORIZE_PAYMENT, authorize_payment, ["VOIDED"])],
)
def test_a_step_whose_outcome_was_lost_leaves_nothing_when_it_finds_the_order_cancelled(
    customer: User,
    customer_client: APIClient,
    step: str,
    run: Callable[[StepContext], object],
    payment_statuses: list[str],
) -> None:
    # given: a worker ran the step and died before recording it; then the customer cancelled
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 2)])
    saga = advance(order_id, until_step=step)
    run(context_for(saga, step))
    customer_client.post(f"/api/v1/orders/{order_id}/cancel/", {}, format="json")
    # when: the step runs again
    saga = advance(order_id)
    # then: it undid its own effect before giving up
    assert (saga.status, saga.failure_reason) == (SagaStatus.COMPENSATED, "cancelled_by_customer")
    assert [p.status for p in payments(order_id)] == payment_statuses
    assert stock(mug) == (5, 0)
    assert reservation_statuses(order_id) == ["RELEASED"]
    assert_stock_consistent()


def test_a_capture_whose_paid_mark_is_refused_is_timed_as_a_failed_step(
    customer: User, settings: SettingsWrapper
) -> None:
    # given: the customer cancels right after the capture, so marking the order PAID (which
    # commits with the capture step's outcome) is refused
    settings.PAYMENT_GATEWAY = "tests.sagas.gateways.CancellingCaptureGateway"
    labels = {"saga_type": "order_fulfilment", "step": CAPTURE_PAYMENT}

    def timed(outcome: str) -> float:
        name = "commerce_saga_step_duration_seconds_count"
        return REGISTRY.get_sample_value(name, {**labels, "outcome": outcome}) or 0.0

    before = {outcome: timed(outcome) for outcome in ("succeeded", "permanent_error")}
    order_id = confirmed_order(customer, [(stocked_product(5), 1)])
    # when
    advance(order_id)
    # then: the step histogram counts the outcome recorded, not the step function's return
    assert timed("permanent_error") == before["permanent_error"] + 1
    assert timed("succeeded") == before["succeeded"]
