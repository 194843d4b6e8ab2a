"""Refund paths: staff cancel a PAID order (refund, stock back on hand) or refund a SHIPPED or
DELIVERED one (refund only). Orders records the debt; the order_refund saga pays it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from pytest_django import DjangoCaptureOnCommitCallbacks
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from accounts.models import User
from payments.models import SandboxCharge
from sagas.domain import SagaStatus
from sagas.models import SagaInstance
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


@pytest.fixture(autouse=True)
def fast_retries(settings: SettingsWrapper) -> None:
    settings.SAGA_RETRY_MAX_ATTEMPTS = 3
    settings.SAGA_RETRY_BASE_DELAY = timedelta(milliseconds=5)
    settings.SAGA_RETRY_MAX_DELAY = timedelta(milliseconds=20)
    settings.SAGA_RETRY_JITTER = 0.0


def test_staff_cancelling_a_paid_order_refunds_it_and_returns_the_stock(
    customer: User,
    staff_client: APIClient,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    # given
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 2)])
    advance(order_id)
    assert stock(mug) == (3, 0)
    mail.outbox.clear()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            f"/api/v1/orders/{order_id}/cancel/", {"reason": "damaged_in_store"}, format="json"
        )
        refund = drive(refund_saga_id_for(order_id))
    # then
    assert response.status_code == 200, response.content
    assert (refund.saga_type, refund.status) == ("order_refund", SagaStatus.COMPLETED)
    assert refund.owner_id == customer.pk
    cancelled = order(order_id)
    assert (cancelled.status, cancelled.payment_status) == ("CANCELLED", "REFUNDED")
    [payment] = payments(order_id)
    assert (payment.status, payment.refunded_amount) == ("REFUNDED", Decimal("25.00"))
    assert [c.refunded_amount for c in charges(order_id)] == [Decimal("25.00")]
    assert stock(mug) == (5, 0)
    assert reservation_statuses(order_id) == ["RETURNED"]
    assert_stock_consistent()
    subjects = [email.subject.split(" (")[0] for email in mail.outbox]
    assert subjects == ["Your order was cancelled", "Your refund is on its way"]
    assert "25.00 EUR is on its way back" in mail.outbox[0].body


def test_staff_refunding_a_delivered_order_refunds_the_payment_and_keeps_the_stock_booked(
    customer: User, staff_client: APIClient
) -> None:
    # given
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 2)])
    advance(order_id)
    url = f"/api/v1/orders/{order_id}/"
    ship = {"carrier": "DHL", "tracking_number": "JD014600"}
    assert staff_client.post(f"{url}ship/", ship, format="json").status_code == 200
    assert staff_client.post(f"{url}deliver/", {}, format="json").status_code == 200
    # when
    response = staff_client.post(f"{url}refund/", {"reason": "arrived_broken"}, format="json")
    pending = order(order_id).payment_status
    refund = drive(refund_saga_id_for(order_id))
    # then
    assert response.status_code == 200, response.content
    assert pending == "REFUND_PENDING"
    assert refund.status == SagaStatus.COMPLETED
    refunded = order(order_id)
    assert (refunded.status, refunded.payment_status) == ("REFUNDED", "REFUNDED")
    assert [p.status for p in payments(order_id)] == ["REFUNDED"]
    # the goods are with the customer: nothing goes back on the shelf
    assert stock(mug) == (3, 0)
    assert reservation_statuses(order_id) == ["COMMITTED"]


def test_a_refund_that_keeps_failing_waits_for_staff_and_completes_when_retried(
    customer: User, staff_client: APIClient
) -> None:
    # given: the gateway refuses every refund for this card
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 1)], token="tok_refund_fails")
    advance(order_id)
    staff_client.post(f"/api/v1/orders/{order_id}/cancel/", {"reason": "lost"}, format="json")
    # when
    failed = drive(refund_saga_id_for(order_id))
    detail = staff_client.get(f"/api/v1/sagas/{failed.saga_id}/").json()
    # then: stuck in FAILED, not compensated, money still owed
    assert (failed.status, failed.failure_reason) == (SagaStatus.FAILED, "refund_failed")
    assert failed.completed_steps == []
    assert detail["steps"][0]["state"] == "FAILED"
    assert order(order_id).payment_status == "REFUND_PENDING"
    # when: the bank is fixed and staff retry
    SandboxCharge.objects.filter(token="tok_refund_fails").update(token="tok_ok")
    saga_retry(saga_id=failed.saga_id, actor="support")
    retried = drive(failed.saga_id)
    # then
    assert retried.status == SagaStatus.COMPLETED
    assert order(order_id).payment_status == "REFUNDED"
    assert stock(mug) == (5, 0)


def test_an_order_gets_one_refund_saga_however_often_the_refund_is_recorded(
    customer: User, staff_client: APIClient
) -> None:
    # given
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 1)])
    advance(order_id)
    # when: the cancel is sent twice (the second is a no-op for orders)
    for _ in range(2):
        staff_client.post(f"/api/v1/orders/{order_id}/cancel/", {"reason": "dup"}, format="json")
    # then
    assert SagaInstance.objects.filter(saga_type="order_refund").count() == 1
    assert drive(refund_saga_id_for(order_id)).status == SagaStatus.COMPLETED
