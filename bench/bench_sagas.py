"""Fulfilment saga benchmarks against real Celery workers, each next to a bare Celery no-op
measured in the same run, on the same broker and the same worker processes; every row once
per broker: Redis (CELERY_BROKER_URL) and RabbitMQ (BENCH_AMQP_URL, a vhost of its own,
created with `rabbitmqctl` when missing; empty measures Redis only).

Run with `python -m bench --only sagas` (the runner sets Django up on the benchmark
database; point BENCH_DATABASE_URL at a database of your own when others share the server).
Each worker is `celery -A commerce_project worker --pool=threads` as deployed (one process,
CELERY_WORKER_CONCURRENCY tasks at once, 8 by default) on a queue of this run, with emails
rendered and dropped (`EMAIL_URL=dummymail://`).

- checkout → PAID latency (p50, p95), one worker: one customer at a time puts one unit in a
  cart and checks out (`POST /api/v1/carts/{sid}/checkout/` through the whole Django stack,
  in this process); the latency runs from the request to the `paid_at` the worker records.
  The baseline is one no-op task round trip (publish, run, result back) through the same
  worker. Goals: p50 ≤ 5x and p95 ≤ 10x the baseline (ratio ≥ 0.2x and ≥ 0.1x).
- completed sagas per second, checkout included: the carts are filled first (not timed),
  then BENCH_SAGA_CHECKOUT_THREADS threads of this process check them out by calling the
  checkout service (`carts.checkout.cart_checkout`, the code behind the 202: order created
  and confirmed, saga started, first run published) while the workers run the sagas; timed
  from the first checkout until every saga of this run has settled. In-process, not HTTP,
  so the load generator costs the two shared cores as little as possible. Orders spread
  over 100 products, with one and with two worker processes (goals ≥ 60/s and ≥ 100/s);
  then, with two, every order buying one hot product stocked for 90 % of them (goal
  ≥ 40/s): exactly that many are PAID, the rest cancelled for want of stock, and the stock
  ends at zero reserved and never below zero (asserted: zero oversold). The baseline is
  no-op tasks per second through the same workers (published all at once, counted when
  every result is back).

Every benchmark waits only for the sagas it started (sagas left RUNNING by other
benchmarks are never published to its queues), and every wait has a deadline: a run that
does not reach its goal state in time ends with an error naming what is missing.

Knobs: BENCH_SAGA_LATENCY_SAMPLES (default 30), BENCH_SAGA_THROUGHPUT_SAGAS (default 200),
BENCH_SAGA_CHECKOUT_THREADS (default 3), BENCH_NOOP_SAMPLES (default 200),
BENCH_NOOP_TASKS (default 1000), BENCH_AMQP_URL (default
amqp://guest:guest@127.0.0.1:5672/commerce_bench).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.fixtures import ADDRESS, stocked_products, user_tokens
from bench.measure import Goal, Result, Side, measured
from commerce_project.celery import app, publishing_to

ROOT = Path(__file__).resolve().parent.parent
LATENCY_SAMPLES = int(os.environ.get("BENCH_SAGA_LATENCY_SAMPLES", "30"))
THROUGHPUT_SAGAS = int(os.environ.get("BENCH_SAGA_THROUGHPUT_SAGAS", "200"))
CHECKOUT_THREADS = int(os.environ.get("BENCH_SAGA_CHECKOUT_THREADS", "3"))
NOOP_SAMPLES = int(os.environ.get("BENCH_NOOP_SAMPLES", "200"))
NOOP_TASKS = int(os.environ.get("BENCH_NOOP_TASKS", "1000"))
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/commerce_bench")
SPREAD_PRODUCTS = 100
# Sagas slower than this many per second count as stuck: the run ends with an error.
SLOWEST_SAGAS_PER_SECOND = 0.5


class GoalStateNotReached(RuntimeError):
    """A benchmark's goal state was not reached before its deadline."""


def deadline_for(count: int) -> float:
    """Seconds to wait for `count` sagas (or tasks) before giving up."""
    return 30.0 + count / SLOWEST_SAGAS_PER_SECOND


@app.task(name="bench.sagas.noop")
def noop() -> None:
    """The baseline: a task that does nothing (its result still travels back)."""


# --- brokers and workers


def brokers() -> list[tuple[str, str]]:
    """(label, URL) of every broker the saga rows are measured on."""
    from django.conf import settings

    found = [("Redis", settings.CELERY_BROKER_URL)]
    if AMQP_URL:
        _ensure_amqp_vhost(AMQP_URL)
        found.append(("RabbitMQ", AMQP_URL))
    return found


def _ensure_amqp_vhost(url: str) -> None:
    """Create the benchmark's vhost with `rabbitmqctl` when RabbitMQ refuses it."""
    from kombu import Connection

    def reachable() -> bool:
        try:
            with Connection(url, connect_timeout=5) as connection:
                connection.ensure_connection(max_retries=1)
        except Exception:
            return False
        return True

    if reachable():
        return
    parts = urlsplit(url)
    vhost, user = parts.path[1:] or "/", parts.username or "guest"
    for command in (
        ["rabbitmqctl", "add_vhost", vhost],
        ["rabbitmqctl", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
    ):
        subprocess.run(command, check=False, capture_output=True, timeout=60)
    if not reachable():
        raise GoalStateNotReached(
            f"RabbitMQ refuses {url}: start it (`rabbitmq-server -detached`), create the vhost "
            f"(`rabbitmqctl add_vhost {vhost}`), or set BENCH_AMQP_URL= to measure Redis only"
        )


class Worker:
    def __init__(self, queue: str, broker_url: str, log_dir: Path) -> None:
        self.queue = queue
        self.log_path = log_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
        env = {
            **os.environ,
            "CELERY_BROKER_URL": broker_url,
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
                # One process as deployed: the threads pool, CELERY_WORKER_CONCURRENCY
                # tasks at once (settings; the environment may override it).
                "--pool=threads",
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
def workers(count: int, broker_url: str) -> Iterator[str]:
    """`count` single-process workers on a fresh queue of `broker_url`, with this process
    publishing there too; yields the queue."""
    from django.conf import settings

    queue = f"bench-sagas-{uuid.uuid4().hex[:8]}"
    previous = settings.SAGA_QUEUE
    settings.SAGA_QUEUE = queue
    with tempfile.TemporaryDirectory(prefix="bench-sagas-") as log_dir, publishing_to(broker_url):
        started: list[Worker] = []
        try:
            for _ in range(count):
                started.append(Worker(queue, broker_url, Path(log_dir)))
            yield queue
        finally:
            for worker in started:
                worker.stop()
            settings.SAGA_QUEUE = previous
            _drop_queue(queue)


def _drop_queue(queue: str) -> None:
    with app.connection_for_write() as connection:
        channel: Any = connection.default_channel
        with suppress(*connection.channel_errors):
            channel.queue_delete(queue)


# --- fixtures


def _customers(count: int) -> list[Any]:
    from accounts.models import User

    user_tokens("bench-saga-customer", count)
    return [User.objects.get(username=f"bench-saga-customer-{n}") for n in range(count)]


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
    for _ in range(20):  # warm-up
        noop.apply_async(queue=queue).get(timeout=30)
    started = time.perf_counter()
    pending = [noop.apply_async(queue=queue) for _ in range(NOOP_TASKS)]
    deadline = time.monotonic() + deadline_for(NOOP_TASKS)
    for async_result in pending:
        async_result.get(timeout=max(1.0, deadline - time.monotonic()))
    return NOOP_TASKS / (time.perf_counter() - started)


def _checkout_latencies() -> list[float]:
    from django.utils import timezone
    from rest_framework.test import APIClient

    from orders.models import OrderView

    (product,) = stocked_products(1, available=LATENCY_SAMPLES + 10)
    (token,) = user_tokens("bench-saga-customer", 1)
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
            if paid_at is None and time.monotonic() > deadline:
                raise GoalStateNotReached(f"order {order_id} not PAID after 30 s")
            # paid_at is the measurement; polling often would only load the database.
            time.sleep(0.02)
        if index >= 3:  # warm-up
            latencies.append((paid_at - started).total_seconds())
    return latencies


def _filled_carts(products: list[Any], count: int) -> list[tuple[Any, str]]:
    """`count` carts of one unit each, the n-th of products[n % len(products)], spread over
    one customer per checkout thread: (customer, session id)."""
    from carts.services import cart_create, cart_item_add

    customers = _customers(CHECKOUT_THREADS)
    carts = []
    for n in range(count):
        customer = customers[n % len(customers)]
        cart = cart_create(user_id=customer.pk)
        cart_item_add(
            session_id=cart.session_id,
            user_id=customer.pk,
            product_id=products[n % len(products)].id,
            quantity=1,
        )
        carts.append((customer, cart.session_id))
    return carts


def _checkouts_settled(
    carts: list[tuple[Any, str]],
) -> tuple[float, Counter[str], int, list[uuid.UUID]]:
    """Check every cart out from CHECKOUT_THREADS threads and wait until each saga started
    has settled: (seconds from the first checkout, saga statuses, checkouts refused as out
    of stock, the orders accepted)."""
    from django.db import connection

    from carts.checkout import cart_checkout
    from inventory.exceptions import OutOfStock
    from orders.domain import Actor, ShippingAddress
    from sagas.domain import ACTIVE_STATUSES
    from sagas.models import SagaInstance

    address = ShippingAddress(**ADDRESS)
    saga_ids: list[uuid.UUID] = []
    order_ids: list[uuid.UUID] = []
    refused = [0]
    errors: list[BaseException] = []
    lock = threading.Lock()

    def check_out(share: list[tuple[Any, str]]) -> None:
        try:
            for customer, session_id in share:
                try:
                    result = cart_checkout(
                        session_id=session_id,
                        user_id=customer.pk,
                        payment_token="tok_ok",
                        shipping_address=address,
                        actor=Actor.customer(customer.pk),
                    )
                except OutOfStock:
                    with lock:
                        refused[0] += 1
                    continue
                with lock:
                    saga_ids.append(result.saga_id)
                    order_ids.append(result.order_id)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=check_out, args=(carts[n::CHECKOUT_THREADS],))
        for n in range(CHECKOUT_THREADS)
    ]
    started = time.perf_counter()
    deadline = time.monotonic() + deadline_for(len(carts))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, deadline - time.monotonic()))
    if errors:
        raise RuntimeError(f"a checkout failed: {errors[0]!r}") from errors[0]
    if any(thread.is_alive() for thread in threads):
        raise GoalStateNotReached(f"checkouts not done after {deadline_for(len(carts)):.0f} s")
    ours = SagaInstance.objects.filter(pk__in=saga_ids)
    while ours.filter(status__in=ACTIVE_STATUSES).exists():
        if time.monotonic() > deadline:
            statuses = Counter(ours.values_list("status", flat=True))
            raise GoalStateNotReached(
                f"{len(saga_ids)} sagas not settled after {deadline_for(len(carts)):.0f} s: "
                f"{dict(statuses)}"
            )
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    return elapsed, Counter(ours.values_list("status", flat=True)), refused[0], order_ids


def _spread_sagas_per_second() -> float:
    from sagas.domain import SagaStatus

    products = stocked_products(SPREAD_PRODUCTS, available=THROUGHPUT_SAGAS)
    carts = _filled_carts(products, THROUGHPUT_SAGAS)
    elapsed, statuses, refused, _ = _checkouts_settled(carts)
    if refused or statuses[SagaStatus.COMPLETED] != THROUGHPUT_SAGAS:
        raise GoalStateNotReached(
            f"{THROUGHPUT_SAGAS} orders over stocked products: {refused} refused, "
            f"sagas {dict(statuses)}"
        )
    return THROUGHPUT_SAGAS / elapsed


def _hot_sagas_per_second() -> float:
    """Every order buys the same product, stocked for 90 % of them: the sagas completed per
    second, after asserting that exactly the stocked units were sold (zero oversold)."""
    from decimal import Decimal

    from inventory.models import StockItem
    from inventory.services import product_create
    from orders.models import OrderView
    from sagas.domain import SagaStatus

    units = THROUGHPUT_SAGAS * 9 // 10
    hot = product_create(
        sku=f"BENCH-HOT-{uuid.uuid4().hex[:8]}",
        name="Bench hot",
        price=Decimal("9.99"),
        initial_stock=units,
    )
    carts = _filled_carts([hot], THROUGHPUT_SAGAS)
    elapsed, statuses, refused, order_ids = _checkouts_settled(carts)
    stock = StockItem.objects.get(product_id=hot.id)
    sold = OrderView.objects.filter(pk__in=order_ids, status="PAID").count()
    if not (
        statuses[SagaStatus.COMPLETED] == units == sold
        and stock.reserved == 0
        and stock.on_hand == 0
        and statuses[SagaStatus.COMPLETED] + statuses[SagaStatus.COMPENSATED] + refused
        == THROUGHPUT_SAGAS
    ):
        raise AssertionError(
            f"hot product: {units} units for {THROUGHPUT_SAGAS} orders, {sold} PAID, "
            f"{refused} refused at checkout, sagas {dict(statuses)}, on hand {stock.on_hand}, "
            f"reserved {stock.reserved}: oversold or lost"
        )
    return statuses[SagaStatus.COMPLETED] / elapsed


def _latency_rows(label: str, round_trips: list[float], latencies: list[float]) -> list[Result]:
    percentiles = {
        "p50": (statistics.median(latencies), statistics.median(round_trips), 5),
        "p95": (_percentile(latencies, 0.95), _percentile(round_trips, 0.95), 10),
    }
    return [
        measured(
            f"sagas ({label}): checkout → PAID latency {name} (1 worker)",
            Side(ours * 1000, "ms"),
            f"Celery no-op round trip {name}",
            Side(base * 1000, "ms"),
            lower_is_better=True,
            goal=Goal(f"<= {times}x the round trip", ours <= times * base),
        )
        for name, (ours, base, times) in percentiles.items()
    ]


def _throughput_row(
    label: str, workers_count: int, what: str, rate: float, noop_rate: float, goal: float
) -> Result:
    processes = f"{workers_count} worker process{'es' if workers_count > 1 else ''}"
    return measured(
        f"sagas ({label}): completed sagas/s, checkout included, {what}, {processes}",
        Side(rate, "sagas/s"),
        f"Celery no-op tasks/s, {processes}",
        Side(noop_rate, "tasks/s"),
        goal=Goal(f">= {goal:g} sagas/s", rate >= goal),
    )


def bench_sagas_one_worker() -> list[Result]:
    """Latency and spread throughput with one worker process, on every broker."""
    results = []
    for label, url in brokers():
        with workers(1, url) as queue:
            round_trips = _noop_round_trips(queue)
            latencies = _checkout_latencies()
            noop_rate = _noop_per_second(queue)
            rate = _spread_sagas_per_second()
        results += _latency_rows(label, round_trips, latencies)
        results.append(_throughput_row(label, 1, "100 products", rate, noop_rate, 60))
    return results


def bench_sagas_two_workers() -> list[Result]:
    """Spread and hot-product throughput with two worker processes, on every broker."""
    results = []
    for label, url in brokers():
        with workers(2, url) as queue:
            noop_rate = _noop_per_second(queue)
            spread = _spread_sagas_per_second()
            hot = _hot_sagas_per_second()
        results.append(_throughput_row(label, 2, "100 products", spread, noop_rate, 100))
        results.append(
            _throughput_row(label, 2, "one hot product, zero oversold", hot, noop_rate, 40)
        )
    return results


BENCHMARKS: list[Callable[[], list[Result]]] = [bench_sagas_one_worker, bench_sagas_two_workers]
