"""The fulfilment saga end to end with real `celery worker` processes (tests/sagas/worker.py):
the happy path, a worker killed with SIGKILL inside the capture step, and a lost broker
message — the behaviours that only a real worker and a real broker can show."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.db import transaction
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import User
from commerce_project.celery import app
from orders.domain import saga_id_for
from payments.models import SandboxRequest
from sagas.domain import SagaStatus
from sagas.fulfilment import CAPTURE_PAYMENT
from sagas.models import SagaInstance
from sagas.services import saga_sweep
from tests.sagas import gateways
from tests.sagas.shop import (
    assert_stock_consistent,
    charges,
    confirmed_order,
    order,
    payments,
    reservation_statuses,
    stock,
    stocked_product,
)
from tests.sagas.worker import CeleryWorker, wait_for_saga

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
    queue = f"test-kill-{uuid.uuid4().hex[:10]}"
    env = {
        "PAYMENT_GATEWAY": "tests.sagas.gateways.CaptureHoldingGateway",
        "SAGA_LEASE_SECONDS": "1",
        "SAGA_REDISPATCH_AFTER_SECONDS": "0.2",
    }
    workers = []
    for name in ("doomed", "survivor"):
        (tmp_path / name).mkdir()
        workers.append(
            CeleryWorker(
                log_dir=tmp_path / name, email_dir=tmp_path / "mail", queue=queue, extra_env=env
            )
        )
    yield workers[0], workers[1]
    workers[0].kill()
    workers[1].stop()


def test_a_worker_killed_inside_the_capture_is_replaced_and_the_money_is_captured_once(
    doomed_and_survivor: tuple[CeleryWorker, CeleryWorker],
    customer: User,
    settings: SettingsWrapper,
) -> None:
    # given: the first worker is caught in the capture, after the bank captured and before
    # we recorded it, and dies there
    doomed, survivor = doomed_and_survivor
    settings.SAGA_QUEUE = doomed.queue
    doomed.start()
    mug = stocked_product(5)
    with gateways.hold():
        order_id = confirmed_order(customer, [(mug, 2)])
        deadline = time.monotonic() + 20
        while not gateways.waiting() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert gateways.waiting() == 1, doomed.log()[-3000:]
        doomed.kill()
    # when: another worker runs the sweeper (as beat would) until the saga is finished
    survivor.start()
    deadline = time.monotonic() + 30
    saga = SagaInstance.objects.get(pk=saga_id_for(order_id))
    while not finished(saga) and time.monotonic() < deadline:
        app.send_task("sagas.tasks.sweep_sagas", queue=survivor.queue)
        time.sleep(0.5)
        saga = SagaInstance.objects.get(pk=saga.pk)
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


def test_a_lost_first_message_is_recovered_by_the_sweeper(
    saga_worker: CeleryWorker, customer: User, settings: SettingsWrapper
) -> None:
    # given: the saga's first run is published where nobody listens, and then lost
    lost_queue = f"test-lost-{uuid.uuid4().hex[:10]}"
    settings.SAGA_QUEUE = lost_queue
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 1)])
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    assert broker.delete(lost_queue) == 1
    broker.close()
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
