"""Partial refunds end to end: staff ask through the API (by amount or by lines), the order
holds the amount, the refund's own saga pays it at the gateway, puts the chosen lines back
on the shelf and records it; a refund the gateway never paid gives its amount back, and one
whose answer was lost is never given up while the gateway may have paid it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from pytest_django import DjangoCaptureOnCommitCallbacks
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from accounts.models import User
from eventstore.store import load
from inventory.models import Product, StockMovement
from payments.models import PaymentRefund, SandboxCharge
from payments.sandbox import SandboxGateway
from sagas.domain import SagaStatus
from sagas.models import SagaInstance
from sagas.partial_refunds import partial_refund_saga_id_for
from sagas.refunds import refund_saga_id_for
from sagas.services import saga_retry
from tests.sagas.definitions import drive
from tests.sagas.shop import (
    advance,
    assert_stock_consistent,
    charges,
    confirmed_order,
    order,
    payments,
    reservation_statuses,
    stock,
    stocked_product,
)

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def fast_retries(settings: SettingsWrapper) -> None:
    settings.SAGA_RETRY_MAX_ATTEMPTS = 3
    settings.SAGA_COMPENSATION_MAX_ATTEMPTS = 3
    settings.SAGA_RETRY_BASE_DELAY = timedelta(milliseconds=5)
    settings.SAGA_RETRY_MAX_DELAY = timedelta(milliseconds=20)
    settings.SAGA_RETRY_JITTER = 0.0


def delivered_order(
    customer: User, staff_client: APIClient, lines: list[tuple[Product, int]], **kw: Any
) -> uuid.UUID:
    order_id = confirmed_order(customer, lines, **kw)
    advance(order_id)
    url = f"/api/v1/orders/{order_id}/"
    ship = {"carrier": "DHL", "tracking_number": "JD014600"}
    assert staff_client.post(f"{url}ship/", ship, format="json").status_code == 200
    assert staff_client.post(f"{url}deliver/", {}, format="json").status_code == 200
    return order_id


def refund(client: APIClient, order_id: uuid.UUID, **body: Any) -> Any:
    return client.post(
        f"/api/v1/orders/{order_id}/refund/", {"reason": "damaged", **body}, format="json"
    )


def refund_sagas(order_id: uuid.UUID) -> list[uuid.UUID]:
    return [
        partial_refund_saga_id_for(order_id, uuid.UUID(r["refund_id"]))
        for r in order(order_id).refunds
    ]


def refunded_at_gateway(order_id: uuid.UUID) -> Decimal:
    return sum((c.refunded_amount for c in charges(order_id)), Decimal("0"))


def test_a_refund_by_amount_pays_back_part_and_keeps_the_order_status(
    customer: User,
    staff_client: APIClient,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    # given: 2 x 12.50 delivered
    mug = stocked_product(5)
    order_id = delivered_order(customer, staff_client, [(mug, 2)])
    mail.outbox.clear()
    # when
    response = refund(staff_client, order_id, amount="10.00", note="late by a week")
    held = order(order_id)
    with django_capture_on_commit_callbacks(execute=True):
        [saga_id] = refund_sagas(order_id)
        saga = drive(saga_id)
    # then: accepted, the amount held out of what is refundable while the saga runs
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["refunded_amount"], body["refundable_amount"]) == ("0.00", "15.00")
    [requested] = body["refunds"]
    assert (requested["amount"], requested["status"], requested["note"]) == (
        "10.00",
        "REQUESTED",
        "late by a week",
    )
    assert held.payment_status == "CAPTURED"
    # and paid: the order says so, the status stays
    assert (saga.saga_type, saga.status) == ("order_partial_refund", SagaStatus.COMPLETED)
    assert saga.owner_id == customer.pk
    done = order(order_id)
    assert (done.status, done.payment_status) == ("DELIVERED", "PARTIALLY_REFUNDED")
    assert (done.refunded_amount, done.refundable_amount) == (Decimal("10.00"), Decimal("15.00"))
    assert done.refunds[0]["status"] == "COMPLETED"
    [payment] = payments(order_id)
    assert (payment.status, payment.refunded_amount) == ("CAPTURED", Decimal("10.00"))
    assert refunded_at_gateway(order_id) == Decimal("10.00")
    # the goods are with the customer: nothing goes back on the shelf
    assert stock(mug) == (3, 0)
    # and the customer is told
    [email] = mail.outbox
    assert email.subject.startswith("Your refund is on its way")
    assert "We have refunded 10.00 EUR" in email.body
    assert "part of your order of 25.00 EUR" in email.body


def test_a_refund_by_lines_restocks_only_the_lines_chosen(
    customer: User, staff_client: APIClient
) -> None:
    # given: 2 mugs and 1 plate delivered
    mug, plate = stocked_product(5, price="12.50"), stocked_product(5, price="7.00")
    order_id = delivered_order(customer, staff_client, [(mug, 2), (plate, 1)])
    # when: one mug comes back whole, the plate broken
    response = refund(
        staff_client,
        order_id,
        lines=[
            {"product_id": str(mug.pk), "quantity": 1, "restock": True},
            {"product_id": str(plate.pk), "quantity": 1, "restock": False},
        ],
    )
    [saga_id] = refund_sagas(order_id)
    saga = drive(saga_id)
    # then: priced from the order, only the mug is back on hand
    assert response.status_code == 202, response.content
    assert response.json()["refunds"][0]["amount"] == "19.50"
    assert saga.status == SagaStatus.COMPLETED
    assert order(order_id).refunded_amount == Decimal("19.50")
    assert stock(mug) == (4, 0)
    assert stock(plate) == (4, 0)
    returns = StockMovement.objects.filter(reference=str(order_id), kind="RETURN")
    assert [(m.product_id, m.on_hand_delta) for m in returns] == [(mug.pk, 1)]
    assert_stock_consistent()
    # and running the restock step again (a redelivered step) books nothing twice
    from sagas.partial_refunds import return_stock
    from tests.sagas.shop import context_for

    return_stock(context_for(SagaInstance.objects.get(pk=saga_id), "return_stock"))
    assert stock(mug) == (4, 0)
    assert_stock_consistent()


def test_refunds_up_to_the_capture_make_the_payment_refunded_and_each_is_emailed(
    customer: User,
    staff_client: APIClient,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    # given
    mug = stocked_product(5)
    order_id = delivered_order(customer, staff_client, [(mug, 2)])
    mail.outbox.clear()
    # when: two refunds requested before either runs, 22.50 of 25.00
    first = refund(staff_client, order_id, amount="10.00")
    second = refund(staff_client, order_id, lines=[{"product_id": str(mug.pk), "quantity": 1}])
    over = refund(staff_client, order_id, amount="2.51")
    rest = refund(staff_client, order_id, amount="2.50")
    with django_capture_on_commit_callbacks(execute=True):
        sagas = [drive(saga_id) for saga_id in refund_sagas(order_id)]
    # then
    assert [r.status_code for r in (first, second, over, rest)] == [202, 202, 409, 202]
    assert second.json()["refundable_amount"] == "2.50"
    assert over.json()["refundable_amount"] == "2.50"
    assert [s.status for s in sagas] == [SagaStatus.COMPLETED] * 3
    done = order(order_id)
    assert (done.status, done.payment_status) == ("DELIVERED", "REFUNDED")
    assert (done.refunded_amount, done.refundable_amount) == (Decimal("25.00"), Decimal("0.00"))
    amounts = sorted(
        email.body.split("We have refunded ")[1].split(" EUR")[0] for email in mail.outbox
    )
    assert amounts == ["10.00", "12.50", "2.50"]
    assert refund(staff_client, order_id, amount="0.01").status_code == 409


def test_the_last_cent_makes_the_payment_refunded(customer: User, staff_client: APIClient) -> None:
    # given
    mug = stocked_product(5)
    order_id = delivered_order(customer, staff_client, [(mug, 2)])
    # when
    assert refund(staff_client, order_id, amount="24.99").status_code == 202
    assert refund(staff_client, order_id, amount="0.01").status_code == 202
    for saga_id in refund_sagas(order_id):
        drive(saga_id)
    # then
    done = order(order_id)
    assert (done.status, done.payment_status) == ("DELIVERED", "REFUNDED")
    assert (done.refunded_amount, done.refundable_amount) == (Decimal("25.00"), Decimal("0.00"))
    [payment] = payments(order_id)
    assert (payment.status, payment.refunded_amount) == ("REFUNDED", Decimal("25.00"))
    assert refunded_at_gateway(order_id) == Decimal("25.00")


def test_more_than_is_refundable_answers_409_naming_what_is_left(
    customer: User, staff_client: APIClient
) -> None:
    # given: 10.00 of 25.00 on its way
    mug = stocked_product(5)
    order_id = delivered_order(customer, staff_client, [(mug, 2)])
    assert refund(staff_client, order_id, amount="10.00").status_code == 202
    version = order(order_id).version
    # when
    response = refund(staff_client, order_id, amount="15.01")
    # then
    assert response.status_code == 409
    assert response["Content-Type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["type"].endswith("refund-exceeds-refundable")
    assert (problem["refundable_amount"], problem["requested_amount"]) == ("15.00", "15.01")
    assert order(order_id).version == version
    assert len(load(order_id)) == version


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "1.005"}, "amount"),
        ({"amount": "-1.00"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"lines": [{"product_id": str(uuid.uuid4()), "quantity": 1}]}, "lines.0.product_id"),
        ({"lines": "one mug"}, "lines"),
        ({"lines": []}, "lines"),
        ({"amount": "1.00", "lines": [{"product_id": "MUG", "quantity": 1}]}, "amount"),
        ({"amount": "1.00", "reason": "Damaged!"}, "reason"),
        ({"note": "goodwill"}, "note"),
    ],
    ids=[
        "three decimals",
        "negative",
        "zero",
        "unknown product",
        "lines not a list",
        "no lines",
        "amount and lines",
        "reason not snake case",
        "note without a partial refund",
    ],
)
def test_bad_input_answers_400_naming_the_field(
    customer: User, staff_client: APIClient, body: dict[str, Any], field: str
) -> None:
    # given
    mug = stocked_product(5)
    order_id = delivered_order(customer, staff_client, [(mug, 2)])
    if isinstance(body.get("lines"), list) and body["lines"]:
        body = {
            **body,
            "lines": [
                {**line, "product_id": str(mug.pk)} if line["product_id"] == "MUG" else line
                for line in body["lines"]
            ],
        }
    version = order(order_id).version
    # when
    response = refund(staff_client, order_id, **body)
    # then
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    errors = response.json()["errors"]
    assert any(key == field or key.startswith(f"{field}.") for key in errors), errors
    assert order(order_id).version == version


def test_more_units_than_bought_and_not_yet_returned_answer_400(
    customer: User, staff_client: APIClient
) -> None:
    # given: one of two mugs already refunded
    mug = stocked_product(5)
    order_id = delivered_order(customer, staff_client, [(mug, 2)])
    line = {"product_id": str(mug.pk), "quantity": 1}
    assert refund(staff_client, order_id, lines=[line]).status_code == 202
    # when
    response = refund(staff_client, order_id, lines=[{**line, "quantity": 2}])
    # then
    assert response.status_code == 400
    assert "lines.0.quantity" in response.json()["errors"]
    assert refund(staff_client, order_id, lines=[line]).status_code == 202


def test_customers_may_not_refund_and_unknown_orders_are_not_found(
    customer: User, customer_client: APIClient, staff_client: APIClient
) -> None:
    mug = stocked_product(5)
    order_id = delivered_order(customer, staff_client, [(mug, 2)])
    assert refund(customer_client, order_id, amount="1.00").status_code == 403
    assert refund(staff_client, uuid.uuid4(), amount="1.00").status_code == 404
    assert order(order_id).refunds == []


def test_a_paid_order_can_be_refunded_in_part_and_then_cancelled_for_the_rest(
    customer: User, staff_client: APIClient
) -> None:
    # given: PAID, 10.00 refunded
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 2)])
    advance(order_id)
    assert refund(staff_client, order_id, amount="10.00").status_code == 202
    # when: cancelling waits for the refund to settle, then owes the rest
    early = staff_client.post(
        f"/api/v1/orders/{order_id}/cancel/", {"reason": "lost"}, format="json"
    )
    drive(refund_sagas(order_id)[0])
    late = staff_client.post(
        f"/api/v1/orders/{order_id}/cancel/", {"reason": "lost"}, format="json"
    )
    full = drive(refund_saga_id_for(order_id))
    # then
    assert early.status_code == 409
    assert early.json()["unmet_conditions"] == ["no_refund_running"]
    assert late.status_code == 200, late.content
    assert full.status == SagaStatus.COMPLETED
    done = order(order_id)
    assert (done.status, done.payment_status, done.refunded_amount) == (
        "CANCELLED",
        "REFUNDED",
        Decimal("25.00"),
    )
    cancelled = [e.event for e in load(order_id) if e.event_type == "OrderCancelled"]
    assert cancelled[0].refund_amount == Decimal("15.00")  # type: ignore[attr-defined]
    assert refunded_at_gateway(order_id) == Decimal("25.00")


def test_a_full_refund_still_refunds_everything_left(
    customer: User, staff_client: APIClient
) -> None:
    # given: 10.00 of a delivered 25.00 refunded in part
    mug = stocked_product(5)
    order_id = delivered_order(customer, staff_client, [(mug, 2)])
    assert refund(staff_client, order_id, amount="10.00").status_code == 202
    drive(refund_sagas(order_id)[0])
    # when
    response = refund(staff_client, order_id)
    saga = drive(refund_saga_id_for(order_id))
    # then
    assert response.status_code == 200
    assert saga.status == SagaStatus.COMPLETED
    done = order(order_id)
    assert (done.status, done.payment_status) == ("REFUNDED", "REFUNDED")
    assert (done.refunded_amount, done.refundable_amount) == (Decimal("25.00"), Decimal("0.00"))
    assert refunded_at_gateway(order_id) == Decimal("25.00")


def test_a_refund_the_gateway_declines_is_given_back(
    customer: User, staff_client: APIClient
) -> None:
    # given: 20.00 refunded in the gateway's dashboard, which we have not heard of
    mug = stocked_product(5)
    order_id = delivered_order(customer, staff_client, [(mug, 2)])
    [payment] = payments(order_id)
    SandboxGateway().refund(
        capture_id=payment.gateway_capture_id, amount=Decimal("20.00"), idempotency_key="desk-1"
    )
    # when: ours asks for 10.00 more than the gateway will give
    assert refund(staff_client, order_id, amount="10.00").status_code == 202
    [saga_id] = refund_sagas(order_id)
    saga = drive(saga_id)
    # then: compensated, the amount refundable again, nothing paid twice
    assert (saga.status, saga.failure_reason) == (SagaStatus.COMPENSATED, "refund_refused")
    assert saga.compensated_steps == ["hold_refund"]
    done = order(order_id)
    assert done.refunds[0]["status"] == "FAILED"
    assert (done.payment_status, done.refundable_amount) == ("CAPTURED", Decimal("25.00"))
    [row] = PaymentRefund.objects.all()
    assert (row.status, row.failure_code) == ("FAILED", "amount_exceeds_captured")
    assert refunded_at_gateway(order_id) == Decimal("20.00")
    failed = [e for e in load(order_id) if e.event_type == "OrderRefundFailed"]
    assert failed[0].event.reason == "refund_refused"  # type: ignore[attr-defined]


def test_a_refund_the_gateway_cannot_reach_is_given_back_once_reconciled(
    customer: User, staff_client: APIClient
) -> None:
    # given: every refund of this card fails transiently
    mug = stocked_product(5)
    order_id = delivered_order(customer, staff_client, [(mug, 2)], token="tok_refund_fails")
    # when
    assert refund(staff_client, order_id, amount="10.00").status_code == 202
    [saga_id] = refund_sagas(order_id)
    saga = drive(saga_id)
    # then: retried, then compensated: the gateway holds no refund we did not record
    assert (saga.status, saga.failure_reason) == (SagaStatus.COMPENSATED, "refund_failed")
    done = order(order_id)
    assert (done.refundable_amount, done.refunds[0]["status"]) == (Decimal("25.00"), "FAILED")
    [row] = PaymentRefund.objects.all()
    assert (row.status, row.failure_code) == ("FAILED", "gateway_unavailable")
    assert refunded_at_gateway(order_id) == Decimal("0.00")


def test_a_refund_whose_answer_was_lost_is_never_given_back_and_finishes_on_retry(
    customer: User, staff_client: APIClient, settings: SettingsWrapper
) -> None:
    # given: the gateway refunds, and its answers never arrive
    mug = stocked_product(5)
    order_id = delivered_order(customer, staff_client, [(mug, 2)])
    settings.PAYMENT_GATEWAY = "tests.sagas.gateways.RefundAnswerLosingGateway"
    line = {"product_id": str(mug.pk), "quantity": 1, "restock": True}
    # when
    assert refund(staff_client, order_id, lines=[line]).status_code == 202
    [saga_id] = refund_sagas(order_id)
    failed = drive(saga_id)
    # then: the compensation reconciled, saw money it cannot account for, tried to finish
    # the refund instead, heard nothing back and stopped for staff; the order still holds
    # the 12.50 (nothing refundable twice) and the gateway paid it once
    assert (failed.status, failed.failure_reason) == (SagaStatus.FAILED, "refund_failed")
    assert refunded_at_gateway(order_id) == Decimal("12.50")
    held = order(order_id)
    assert (held.refunds[0]["status"], held.refundable_amount) == ("REQUESTED", Decimal("12.50"))
    assert PaymentRefund.objects.get().status == "PENDING"
    [payment] = payments(order_id)
    assert payment.refunded_amount == Decimal("12.50")  # reconciled with the gateway
    assert stock(mug) == (3, 0)

    # when: the gateway answers again and staff retry
    settings.PAYMENT_GATEWAY = "payments.sandbox.SandboxGateway"
    saga_retry(saga_id=saga_id, actor="staff:test")
    retried = drive(saga_id)
    # then: the gateway's first answer (paid) is recorded and the refund finished, once
    assert retried.status == SagaStatus.COMPENSATED
    done = order(order_id)
    assert (done.refunds[0]["status"], done.payment_status) == ("COMPLETED", "PARTIALLY_REFUNDED")
    assert (done.refunded_amount, done.refundable_amount) == (Decimal("12.50"), Decimal("12.50"))
    assert refunded_at_gateway(order_id) == Decimal("12.50")
    assert PaymentRefund.objects.get().status == "SUCCEEDED"
    assert stock(mug) == (4, 0)
    assert_stock_consistent()


def test_sandbox_charge_never_refunds_past_the_capture_even_when_asked_twice(
    customer: User, staff_client: APIClient
) -> None:
    """The gateway's own bound, our last line of defence, holds for partial refunds too."""
    mug = stocked_product(5)
    order_id = delivered_order(customer, staff_client, [(mug, 2)])
    assert refund(staff_client, order_id, amount="25.00").status_code == 202
    drive(refund_sagas(order_id)[0])
    [charge] = SandboxCharge.objects.filter(
        authorization_id=payments(order_id)[0].gateway_authorization_id
    )
    assert (charge.captured_amount, charge.refunded_amount) == (Decimal("25.00"), Decimal("25.00"))
    assert refund(staff_client, order_id, amount="0.01").status_code == 409


def test_cancelling_after_a_restocked_line_returns_only_the_rest_to_stock(
    customer: User, staff_client: APIClient
) -> None:
    # given: PAID, 2 mugs committed; one taken off the parcel and back on the shelf
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 2)])
    advance(order_id)
    line = {"product_id": str(mug.pk), "quantity": 1, "restock": True}
    assert refund(staff_client, order_id, lines=[line]).status_code == 202
    drive(refund_sagas(order_id)[0])
    assert stock(mug) == (4, 0)
    # when: the rest of the order is cancelled
    cancel = staff_client.post(
        f"/api/v1/orders/{order_id}/cancel/", {"reason": "lost"}, format="json"
    )
    drive(refund_saga_id_for(order_id))
    # then: the second mug comes back, the first is not counted twice
    assert cancel.status_code == 200
    assert stock(mug) == (5, 0)
    assert reservation_statuses(order_id) == ["RETURNED"]
    assert_stock_consistent()
    assert order(order_id).refunded_amount == Decimal("25.00")
    assert refunded_at_gateway(order_id) == Decimal("25.00")
