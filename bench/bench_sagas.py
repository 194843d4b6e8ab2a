"""Fulfilment saga benchmarks against real Celery workers, each next to a bare Celery no-op
measured in the same run, on the same broker and the same worker processes.

Run with `python -m bench --only sagas` (the runner sets Django up on the benchmark
database; point BENCH_DATABASE_URL at a database of your own when others share the server).
Each worker is `celery -A commerce_project worker --pool=solo` (one process) on a queue of
this run, with emails rendered and dropped (`EMAIL_URL=dummymail://`).

- checkout → PAID latency (p50, p95): one customer at a time puts one unit in a cart and
  checks out (`POST /api/v1/carts/{sid}/checkout/` through the whole Django stack, in this
  process); the latency runs from the request to the `paid_at` the worker records. The
  baseline is one no-op task round trip (publish, run, result back). Reaching PAID takes
  three runs through the broker (reserve, authorize, capture), each with its claim and
  record transactions and the step's own work.
- completed sagas per second with one and with two worker processes: N orders are confirmed
  while their first runs go to a queue nobody reads (which is then dropped: lost messages),
  then the saga sweeper publishes them all at once to the workers — so only the workers are
  timed, until every saga is COMPLETED. The baseline is no-op tasks per second through the
  same workers (published all at once, counted when every result is back).

Knobs: BENCH_SAGA_LATENCY_SAMPLES (default 40), BENCH_SAGA_THROUGHPUT_SAGAS (default 300),
BENCH_NOOP_SAMPLES (default 300), BENCH_NOOP_TASKS (default 3000).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.fixtures import ADDRESS, stocked_products, user_tokens
from bench.measure import Result, Side, measured
from commerce_project.celery import app

ROOT = Path(__file__).resolve().parent.parent
LATENCY_SAMPLES = int(os.environ.get("BENCH_SAGA_LATENCY_SAMPLES", "40"))
THROUGHPUT_SAGAS = int(os.environ.get("BENCH_SAGA_THROUGHPUT_SAGAS", "300"))
NOOP_SAMPLES = int(os.environ.get("BENCH_NOOP_SAMPLES", "300"))
NOOP_TASKS = int(os.environ.get("BENCH_NOOP_TASKS", "3000"))


@app.task(name="bench.sagas.noop")
def noop() -> None:
    """The baseline: a task that does nothing (its result still travels back)."""


# --- workers


class Worker:
    def __init__(self, queue: str, log_dir: Path) -> None:
        self.queue = queue
        self.log_path = log_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
        env = {
            **os.environ,
            "SAGA_QUEUE": queue,
            "EMAIL_URL": "dummymail://",
            "DEBUG": "false",
            "PYTHONUNBUFFERED": "1",
        }
        self.log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "commerce_project",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                f"--queues={queue}",
                f"--hostname=bench-{uuid.uuid4().hex[:6]}@%h",
                "--include=bench.bench_sagas",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while " ready." not in self.log_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"worker did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@contextmanager
def workers(count: int) -> Iterator[str]:
    """`count` single-process workers on a fresh queue; yields the queue."""
    from django.conf import settings

    queue = f"bench-sagas-{uuid.uuid4().hex[:8]}"
    previous = settings.SAGA_QUEUE
    settings.SAGA_QUEUE = queue
    with tempfile.TemporaryDirectory(prefix="bench-sagas-") as log_dir:
        started: list[Worker] = []
        try:
            for _ in range(count):
                started.append(Worker(queue, Path(log_dir)))
            yield queue
        finally:
            for worker in started:
                worker.stop()
            settings.SAGA_QUEUE = previous


# --- fixtures


def _customer() -> tuple[Any, str]:
    from accounts.models import User

    (token,) = user_tokens("bench-saga-customer", 1)
    return User.objects.get(username="bench-saga-customer-0"), token


def _product() -> Any:
    (product,) = stocked_products(1, available=100_000)
    return product


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# --- measurements


def _noop_round_trips(queue: str) -> list[float]:
    timings = []
    for index in range(NOOP_SAMPLES + 20):
        started = time.perf_counter()
        noop.apply_async(queue=queue).get(timeout=30)
        if index >= 20:  # warm-up
            timings.append(time.perf_counter() - started)
    return timings


def _noop_per_second(queue: str) -> float:
    started = time.perf_counter()
    pending = [noop.apply_async(queue=queue) for _ in range(NOOP_TASKS)]
    for async_result in pending:
        async_result.get(timeout=120)
    return NOOP_TASKS / (time.perf_counter() - started)


def _checkout_latencies() -> list[float]:
    from django.utils import timezone
    from rest_framework.test import APIClient

    from orders.models import OrderView

    product = _product()
    _, token = _customer()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    latencies = []
    for index in range(LATENCY_SAMPLES + 3):
        cart = client.post("/api/v1/carts/").json()["session_id"]
        client.post(f"/api/v1/carts/{cart}/items/", {"product_id": str(product.id), "quantity": 1})
        started = timezone.now()
        response = client.post(
            f"/api/v1/carts/{cart}/checkout/",
            {"payment_token": "tok_ok", "shipping_address": ADDRESS},
            format="json",
        )
        if response.status_code != 202:
            raise RuntimeError(f"checkout answered {response.status_code}: {response.content!r}")
        order_id = response.json()["order_id"]
        deadline = time.monotonic() + 30
        paid_at = None
        while paid_at is None:
            paid_at = (
                OrderView.objects.filter(pk=order_id, status="PAID")
                .values_list("paid_at", flat=True)
                .first()
            )
            if time.monotonic() > deadline:
                raise RuntimeError(f"order {order_id} not PAID after 30 s")
            # paid_at is the measurement; polling often would only load the database.
            time.sleep(0.02)
        if index >= 3:  # warm-up
            latencies.append((paid_at - started).total_seconds())
    return latencies


def _sagas_per_second(queue: str) -> float:
    """Confirm THROUGHPUT_SAGAS orders whose first runs are lost, then let the sweeper hand
    them all to the workers at once and time until every saga is COMPLETED."""
    import redis
    from django.conf import settings
    from django.db import transaction

    from eventstore.commands import dispatch
    from orders.commands import ConfirmOrder, CreateOrder, LineRequest
    from orders.domain import Actor, ShippingAddress, saga_id_for
    from sagas.models import SagaInstance
    from sagas.services import saga_sweep

    product = _product()
    customer, _ = _customer()
    parking = f"{queue}-parked"
    settings.SAGA_QUEUE = parking
    saga_ids = []
    for _ in range(THROUGHPUT_SAGAS):
        order_id = uuid.uuid4()
        as_customer = Actor.customer(customer.pk)
        dispatch(
            CreateOrder(
                order_id=order_id,
                actor=as_customer,
                customer_id=customer.pk,
                lines=(LineRequest(product_id=product.id, quantity=1),),
                shipping_address=ShippingAddress(**ADDRESS),
            )
        )
        dispatch(ConfirmOrder(order_id=order_id, actor=as_customer, payment_token="tok_ok"))
        saga_ids.append(saga_id_for(order_id))
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(parking)
    broker.close()
    settings.SAGA_QUEUE = queue
    previous = settings.SAGA_REDISPATCH_AFTER
    settings.SAGA_REDISPATCH_AFTER = timedelta(0)
    try:
        started = time.perf_counter()
        with transaction.atomic():
            saga_sweep(limit=THROUGHPUT_SAGAS + 100)
        pending = SagaInstance.objects.filter(pk__in=saga_ids).exclude(status="COMPLETED")
        deadline = time.monotonic() + 600
        while pending.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("sagas did not complete within 10 minutes")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        settings.SAGA_REDISPATCH_AFTER = previous
    return THROUGHPUT_SAGAS / elapsed


def bench_checkout_to_paid_latency() -> list[Result]:
    with workers(1) as queue:
        round_trips = _noop_round_trips(queue)
        latencies = _checkout_latencies()
    percentiles = {
        "p50": (statistics.median(latencies), statistics.median(round_trips)),
        "p95": (_percentile(latencies, 0.95), _percentile(round_trips, 0.95)),
    }
    return [
        measured(
            f"sagas: checkout → PAID latency {label} (1 worker)",
            Side(ours * 1000, "ms"),
            f"Celery no-op round trip {label}",
            Side(base * 1000, "ms"),
            lower_is_better=True,
        )
        for label, (ours, base) in percentiles.items()
    ]


def _throughput(count: int) -> Result:
    with workers(count) as queue:
        _noop_round_trips_warm(queue)
        noop_rate = _noop_per_second(queue)
        saga_rate = _sagas_per_second(queue)
    processes = f"{count} worker process{'es' if count > 1 else ''}"
    return measured(
        f"sagas: completed sagas/s, {processes}",
        Side(saga_rate, "sagas/s"),
        f"Celery no-op tasks/s, {processes}",
        Side(noop_rate, "tasks/s"),
    )


def _noop_round_trips_warm(queue: str) -> None:
    for _ in range(20):
        noop.apply_async(queue=queue).get(timeout=30)


def bench_sagas_per_second_one_worker() -> list[Result]:
    return [_throughput(1)]


def bench_sagas_per_second_two_workers() -> list[Result]:
    return [_throughput(2)]


BENCHMARKS: list[Callable[[], list[Result]]] = [
    bench_checkout_to_paid_latency,
    bench_sagas_per_second_one_worker,
    bench_sagas_per_second_two_workers,
]
