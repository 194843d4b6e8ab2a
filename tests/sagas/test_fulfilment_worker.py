"""The fulfilment saga end to end with real `celery worker` processes (tests/sagas/worker.py):
the happy path, a worker killed with SIGKILL inside the capture step (the saga then completes,
or, after a deadline or a cancellation, refunds the capture it never recorded), and a lost
broker message — the behaviours that only a real worker and a real broker can show."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import User
from inventory.models import Product
from orders.domain import saga_id_for
from payments.models import SandboxRequest
from sagas.domain import SagaStatus
from sagas.fulfilment import CAPTURE_PAYMENT
from sagas.models import SagaInstance
from sagas.services import saga_sweep
from tests.sagas import gateways
from tests.sagas.shop import (
    assert_stock_consistent,
    cancelled_by_customer,
    charges,
    confirmed_order,
    order,
    payments,
    reservation_statuses,
    stock,
    stocked_product,
)
from tests.sagas.worker import (
    CeleryWorker,
    drop_queue,
    swept_until,
    wait_for_saga,
    workers_on_one_queue,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def finished(saga: SagaInstance) -> bool:
    return saga.status not in (SagaStatus.RUNNING, SagaStatus.COMPENSATING)


def test_a_confirmed_order_is_paid_by_a_real_worker_and_the_customer_emailed(
    saga_worker: CeleryWorker, customer: User
) -> None:
    # given
    mug = stocked_product(5)
    sent_before = len(saga_worker.emails())
    # when: confirming commits the order and publishes the saga's first run
    order_id = confirmed_order(customer, [(mug, 2)])
    saga = wait_for_saga(saga_id_for(order_id), finished, worker=saga_worker)
    # then
    assert saga.status == SagaStatus.COMPLETED, saga.last_error
    assert order(order_id).status == "PAID"
    [payment] = payments(order_id)
    assert (payment.status, payment.captured_amount) == ("CAPTURED", Decimal("25.00"))
    assert [c.status for c in charges(order_id)] == ["CAPTURED"]
    assert stock(mug) == (3, 0)
    assert reservation_statuses(order_id) == ["COMMITTED"]
    assert_stock_consistent()
    emails = saga_worker.emails()[sent_before:]
    short = str(order_id)[:8]
    assert sorted(line for email in emails for line in email.splitlines() if "Subject" in line) == [
        f"Subject: Payment received for your order ({short})",
        f"Subject: Your order is confirmed ({short})",
    ]
    assert all(f"To: {customer.email}" in email for email in emails)


@pytest.fixture
def doomed_and_survivor(tmp_path: Path) -> Iterator[tuple[CeleryWorker, CeleryWorker]]:
    """Two workers on one queue, with a short lease; the gateway holds captures (gateways.py)."""
    env = {
        "PAYMENT_GATEWAY": "tests.sagas.gateways.CaptureHoldingGateway",
        "SAGA_LEASE_SECONDS": "1",
        "SAGA_REDISPATCH_AFTER_SECONDS": "0.2",
    }
    doomed, survivor = workers_on_one_queue(tmp_path, ("doomed", "survivor"), env)
    yield doomed, survivor
    doomed.kill()
    survivor.stop()


def killed_inside_the_capture(
    doomed: CeleryWorker, customer: User, settings: SettingsWrapper
) -> tuple[uuid.UUID, Product]:
    """Start `doomed`, confirm an order for two of five mugs, and SIGKILL the worker while it
    is held inside the capture step: after the bank captured, before we recorded it."""
    settings.SAGA_QUEUE = doomed.queue
    mug = stocked_product(5)
    doomed.start()
    with gateways.hold():
        order_id = confirmed_order(customer, [(mug, 2)])
        deadline = time.monotonic() + 20
        while not gateways.waiting() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert gateways.waiting() == 1, doomed.log()[-3000:]
        doomed.kill()
    return order_id, mug


def swept_until_finished(survivor: CeleryWorker, saga_id: uuid.UUID) -> SagaInstance:
    """Start `survivor` and run the sweeper on it until the saga finishes."""
    survivor.start()
    return swept_until(saga_id, finished, queue=survivor.queue)


def test_a_worker_killed_inside_the_capture_is_replaced_and_the_money_is_captured_once(
    doomed_and_survivor: tuple[CeleryWorker, CeleryWorker],
    customer: User,
    settings: SettingsWrapper,
) -> None:
    # given: the first worker is caught in the capture, after the bank captured and before
    # we recorded it, and dies there
    doomed, survivor = doomed_and_survivor
    order_id, mug = killed_inside_the_capture(doomed, customer, settings)
    # when: another worker runs the sweeper (as beat would) until the saga is finished
    saga = swept_until_finished(survivor, saga_id_for(order_id))
    # then
    assert saga.status == SagaStatus.COMPLETED, survivor.log()[-3000:]
    attempts = list(saga.step_log.filter(step=CAPTURE_PAYMENT).order_by("started_at"))
    assert [a.outcome for a in attempts] == ["ABANDONED", "SUCCEEDED"]
    assert attempts[0].worker != attempts[1].worker
    assert list(SandboxRequest.objects.filter(operation="capture").values_list("attempts")) == [
        (1,)
    ]
    [charge] = charges(order_id)
    assert (charge.status, charge.captured_amount) == ("CAPTURED", Decimal("25.00"))
    assert [p.status for p in payments(order_id)] == ["CAPTURED"]
    assert reservation_statuses(order_id) == ["COMMITTED"]
    assert stock(mug) == (3, 0)
    assert order(order_id).status == "PAID"
    assert_stock_consistent()


def the_deadline_passes(order_id: uuid.UUID) -> None:
    SagaInstance.objects.filter(pk=saga_id_for(order_id)).update(
        step_deadline_at=timezone.now() - timedelta(seconds=1)
    )


@pytest.mark.parametrize(
    ("meanwhile", "reason", "cancellation_reason"),
    [
        (the_deadline_passes, "timeout", "timeout"),
        (cancelled_by_customer, "cancelled_by_customer", "changed_my_mind"),
    ],
)
def test_a_capture_lost_with_its_worker_is_refunded_when_the_saga_compensates(
    doomed_and_survivor: tuple[CeleryWorker, CeleryWorker],
    customer: User,
    settings: SettingsWrapper,
    meanwhile: Callable[[uuid.UUID], None],
    reason: str,
    cancellation_reason: str,
) -> None:
    # given: the worker dies right after the bank captured, before we recorded the capture
    doomed, survivor = doomed_and_survivor
    order_id, mug = killed_inside_the_capture(doomed, customer, settings)
    [charge] = charges(order_id)
    assert (charge.status, charge.captured_amount) == ("CAPTURED", Decimal("25.00"))
    assert [p.status for p in payments(order_id)] == ["AUTHORIZED"]
    # when: the step's deadline passes (or the customer cancels) before another worker runs it
    meanwhile(order_id)
    saga = swept_until_finished(survivor, saga_id_for(order_id))
    # then: the compensation learnt the truth from the gateway and refunded the capture
    assert (saga.status, saga.failure_reason) == (SagaStatus.COMPENSATED, reason), (
        saga.last_error + survivor.log()[-3000:]
    )
    [charge] = charges(order_id)
    assert charge.captured_amount == charge.refunded_amount == Decimal("25.00")
    [payment] = payments(order_id)
    assert (payment.status, payment.refunded_amount) == ("REFUNDED", Decimal("25.00"))
    cancelled = order(order_id)
    assert (cancelled.status, cancelled.cancellation_reason) == ("CANCELLED", cancellation_reason)
    assert cancelled.payment_status == "REFUNDED"
    assert stock(mug) == (5, 0)
    assert reservation_statuses(order_id) == ["RELEASED"]
    assert_stock_consistent()


def test_a_lost_first_message_is_recovered_by_the_sweeper(
    saga_worker: CeleryWorker, customer: User, settings: SettingsWrapper
) -> None:
    # given: the saga's first run is published where nobody listens, and then lost
    lost_queue = f"test-lost-{uuid.uuid4().hex[:10]}"
    settings.SAGA_QUEUE = lost_queue
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 1)])
    assert drop_queue(lost_queue) == 1
    time.sleep(0.3)
    assert SagaInstance.objects.get(pk=saga_id_for(order_id)).attempts == 0
    # when: the sweeper runs once the message counts as lost
    settings.SAGA_QUEUE = saga_worker.queue
    settings.SAGA_REDISPATCH_AFTER = timedelta(0)
    with transaction.atomic():
        published = saga_sweep()
    saga = wait_for_saga(saga_id_for(order_id), finished, worker=saga_worker)
    # then
    assert published == 1
    assert saga.status == SagaStatus.COMPLETED
    assert order(order_id).status == "PAID"
