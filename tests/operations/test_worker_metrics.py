"""A Celery worker in a pod of its own serves its per-process metrics on WORKER_METRICS_PORT,
summed over its pool processes (prefork, two children) through PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import User
from orders.domain import saga_id_for
from sagas.domain import SagaStatus
from tests.inventory.factories import ProductFactory
from tests.operations.scrape import value
from tests.sagas.shop import confirmed_order
from tests.sagas.worker import CeleryWorker, wait_for_saga

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PREFORK = (
    "--pool=prefork",
    "--concurrency=2",
    "--without-heartbeat",
    "--without-mingle",
    "--without-gossip",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def metrics_worker(tmp_path: Path, settings: SettingsWrapper) -> Iterator[tuple[CeleryWorker, int]]:
    port = _free_port()
    worker = CeleryWorker(
        log_dir=tmp_path,
        email_dir=tmp_path / "mail",
        options=PREFORK,
        extra_env={
            "WORKER_METRICS_PORT": str(port),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        },
    )
    worker.start()
    settings.SAGA_QUEUE = worker.queue
    try:
        yield worker, port
    finally:
        worker.stop()


def _scrape(port: int) -> str:
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                return str(answer.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_worker_serves_the_saga_steps_its_pool_ran(
    metrics_worker: tuple[CeleryWorker, int], customer: User
) -> None:
    worker, port = metrics_worker
    product = ProductFactory(price=Decimal("4.00"), stock=10)
    # when three sagas run on the worker's pool
    orders = [confirmed_order(customer, [(product, 1)]) for _ in range(3)]
    for order_id in orders:
        wait_for_saga(
            saga_id_for(order_id), lambda saga: saga.status == SagaStatus.COMPLETED, worker=worker
        )
    # then its metrics port counts every step, whichever pool process ran it
    text = _scrape(port)
    reserve = {"saga_type": "order_fulfilment", "step": "reserve_stock", "outcome": "succeeded"}
    assert value(text, "commerce_saga_step_duration_seconds_count", reserve) == 3
    capture = {**reserve, "step": "capture_payment"}
    assert value(text, "commerce_saga_step_duration_seconds_count", capture) == 3
