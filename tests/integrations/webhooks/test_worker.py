"""Webhooks in a real `celery worker` (tests/sagas/worker.py), killed with SIGKILL in the
middle of a delivery: the delivery is sent again by the next worker, never lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from commerce_project.celery import app
from integrations.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.sagas.worker import CeleryWorker

from .conftest import new_order, order_event, subscribe
from .receiver import Receiver

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WORKER_ENV = {
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "WEBHOOK_RETRY_SCHEDULE_SECONDS": ",".join(["0.1"] * 20),
    "WEBHOOK_DISPATCH_CONCURRENCY": "1",
}


def pumped_until(worker: CeleryWorker, done: Callable[[], bool], *, timeout: float = 30.0) -> None:
    """Publish the pump to the worker's queue, as beat would, until `done()` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.send_task("integrations.webhooks.tasks.pump_webhooks", queue=worker.queue)
        time.sleep(0.3)
        if done():
            return
    raise AssertionError(f"not done after {timeout}s; worker log:\n{worker.log()[-3000:]}")


def test_a_worker_killed_mid_delivery_loses_nothing(tmp_path: Path) -> None:
    # given: a receiver that holds the first request open, and two events of one order
    receiver = Receiver().start()
    receiver.hold = threading.Event()
    subscribe(receiver)
    order_id = new_order()
    second = order_event(order_id, 1)
    worker = CeleryWorker(log_dir=tmp_path, email_dir=tmp_path / "mail", extra_env=WORKER_ENV)
    worker.start()
    try:
        # when: the worker is killed while the first delivery is in flight
        pumped_until(worker, receiver.in_flight.is_set)
        worker.kill()
        first_id = receiver.ids()[0]
        receiver.hold.set()
        receiver.hold = None
        # then nothing was recorded as sent
        in_flight = WebhookDelivery.objects.get(event_id=first_id)
        assert (in_flight.status, in_flight.attempts) == (DeliveryStatus.PENDING, 0)
        # when another worker takes over
        worker.start()
        pumped_until(
            worker,
            lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 2,
        )
    finally:
        worker.stop()
        receiver.stop()
    # then: the first event again (same webhook-id), then the second, all verified
    ids = receiver.ids()
    assert ids[:2] == [first_id, first_id]
    assert ids[2:] == [str(second.id)]
    assert receiver.all_verified()
    assert WebhookDelivery.objects.count() == 2
    assert set(WebhookDelivery.objects.values_list("attempts", flat=True)) == {1}
