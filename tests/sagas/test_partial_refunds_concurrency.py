"""Concurrent partial refunds of one order, each request and each saga on its own thread and
database connection: the total asked for never exceeds the capture, and what the gateway
paid out equals what the payment, its refund ledger and the order say."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import User
from payments.models import PaymentRefund
from sagas.domain import SagaStatus
from sagas.partial_refunds import partial_refund_saga_id_for
from tests.concurrency import run_together
from tests.conftest import client_for
from tests.sagas.definitions import drive
from tests.sagas.shop import advance, charges, confirmed_order, order, payments, stocked_product

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


@pytest.fixture(autouse=True)
def fast_retries(settings: SettingsWrapper) -> None:
    settings.SAGA_RETRY_BASE_DELAY = timedelta(milliseconds=5)
    settings.SAGA_RETRY_MAX_DELAY = timedelta(milliseconds=20)
    settings.SAGA_RETRY_JITTER = 0.0


def test_concurrent_refunds_never_exceed_the_capture(customer: User, staff: User) -> None:
    # given: a PAID order of 100.00
    pan = stocked_product(5, price="50.00")
    order_id = confirmed_order(customer, [(pan, 2)])
    advance(order_id)
    assert order(order_id).payment_status == "CAPTURED"
    clients = [client_for(staff) for _ in range(THREADS)]
    url = f"/api/v1/orders/{order_id}/refund/"
    body = {"amount": "30.00", "reason": "price_match"}
    # when: eight staff refund 30% at once
    responses = run_together(
        *[lambda c=c: c.post(url, body, format="json") for c in clients]  # type: ignore[misc]
    )
    # then: three fit, the rest are told what is left (10.00), none failed otherwise
    codes = sorted(r.status_code for r in responses)
    assert codes == [202] * 3 + [409] * 5, [r.content for r in responses]
    refused = [r.json() for r in responses if r.status_code == 409]
    assert {p["refundable_amount"] for p in refused} == {"10.00"}
    held = order(order_id)
    assert (held.refundable_amount, len(held.refunds)) == (Decimal("10.00"), 3)

    # when: their three sagas run at once
    saga_ids = [
        partial_refund_saga_id_for(order_id, uuid.UUID(r["refund_id"])) for r in held.refunds
    ]
    sagas = run_together(*[lambda s=s: drive(s) for s in saga_ids])  # type: ignore[misc]
    # then: every ledger agrees with the gateway
    assert [s.status for s in sagas] == [SagaStatus.COMPLETED] * 3, sagas
    done = order(order_id)
    assert (done.status, done.payment_status) == ("PAID", "PARTIALLY_REFUNDED")
    assert (done.refunded_amount, done.refundable_amount) == (Decimal("90.00"), Decimal("10.00"))
    [charge] = charges(order_id)
    [payment] = payments(order_id)
    ledger = sum(
        PaymentRefund.objects.filter(payment=payment, status="SUCCEEDED").values_list(
            "amount", flat=True
        ),
        Decimal("0"),
    )
    assert charge.refunded_amount == ledger == payment.refunded_amount == Decimal("90.00")
    assert charge.refunded_amount <= charge.captured_amount
