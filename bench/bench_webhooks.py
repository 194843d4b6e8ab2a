"""Webhook benchmarks (issue 15), bounded in time:

- deliveries/s: the dispatcher (claim with SKIP LOCKED, sign, POST, record) sending
  BENCH_WEBHOOK_DELIVERIES pending deliveries to a local receiver (its own process, see
  bench/webhook_receiver.py), WEBHOOK_DISPATCH_CONCURRENCY at a time, next to a raw urllib3
  client posting the same bodies to it with as many threads (no database, no signing);
- commit → receipt latency p50/p95: events appended one at a time while the pump runs every
  WEBHOOK_PUMP_INTERVAL (as beat runs it), from the append's commit to the moment an
  in-process receiver gets the POST; against a raw POST of the same body right after commit.

Run alone with `python -m bench --only webhooks`. They wipe the webhook tables of the
benchmark database (`commerce_bench`), never of any other.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import urllib3
from django.conf import settings
from django.db import connection
from django.test import override_settings

from bench.measure import Result, Side, compared, in_turns, measured
from eventstore.projections import checkpoint_set
from eventstore.store import append
from integrations.webhooks.dispatch import dispatch_due
from integrations.webhooks.models import WebhookDelivery, WebhookSubscription
from integrations.webhooks.outbox import OUTBOX_PROJECTION
from integrations.webhooks.services import subscription_create
from integrations.webhooks.tasks import pump
from orders.domain import OrderCreated

DELIVERIES = int(os.environ.get("BENCH_WEBHOOK_DELIVERIES", "400"))
LATENCY_EVENTS = int(os.environ.get("BENCH_WEBHOOK_LATENCY_EVENTS", "40"))
AT = datetime(2026, 12, 1, tzinfo=UTC)


def _reset() -> None:
    WebhookDelivery.objects.all().delete()
    WebhookSubscription.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT transaction_id::text, global_position FROM events "
            "ORDER BY transaction_id DESC, global_position DESC LIMIT 1"
        )
        row = cursor.fetchone()
    # The consumer starts at the end of the log: older events are no benchmark's business.
    checkpoint_set(
        OUTBOX_PROJECTION, (int(row[0]), int(row[1])) if row else (0, 0), processed=0, absolute=True
    )


def _new_orders(count: int) -> None:
    for _ in range(count):
        append(
            uuid.uuid4(),
            "Order",
            0,
            [OrderCreated(customer_id=uuid.uuid4(), currency="EUR", occurred_at=AT)],
        )


def _pumped_until_created(count: int, timeout: float = 60) -> None:
    """Pump until `count` deliveries exist: the consumer reads only events below every
    running transaction of the server, which other sessions can hold back for a while."""
    deadline = time.monotonic() + timeout
    while WebhookDelivery.objects.count() < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {count} deliveries after {timeout} s")
        pump()
        time.sleep(0.1)


def _start_receiver() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.webhook_receiver"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=settings.BASE_DIR,
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}/hooks"


def delivery_throughput() -> list[Result]:
    concurrency = settings.WEBHOOK_DISPATCH_CONCURRENCY
    receiver, url = _start_receiver()
    try:
        with override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=True):
            _reset()
            subscription_create(url=url, event_types=["*"])
            _new_orders(DELIVERIES)
            _pumped_until_created(DELIVERIES)  # and sent once, which warms the pools
            bodies = list(WebhookDelivery.objects.values_list("payload", flat=True))

            def ours() -> float:
                WebhookDelivery.objects.update(
                    status="PENDING", attempts=0, next_attempt_at=datetime.now(UTC)
                )
                started = time.perf_counter()
                sent = dispatch_due(concurrency=concurrency, time_budget=120)
                return sent / (time.perf_counter() - started)

            pool = urllib3.PoolManager(maxsize=concurrency)

            def raw() -> float:
                chunks = [bodies[n::concurrency] for n in range(concurrency)]

                def post_all(chunk: list[str]) -> int:
                    for body in chunk:
                        pool.request(
                            "POST",
                            url,
                            body=body.encode(),
                            headers={"content-type": "application/json"},
                            retries=False,
                            redirect=False,
                        )
                    return len(chunk)

                started = time.perf_counter()
                with ThreadPoolExecutor(max_workers=concurrency) as executor:
                    sent = sum(executor.map(post_all, chunks))
                return sent / (time.perf_counter() - started)

            ours_rates, raw_rates = in_turns(ours, raw)
    finally:
        receiver.terminate()
        receiver.wait(10)
    return [
        compared(
            f"webhook deliveries to a local receiver ({concurrency} at a time)",
            ours_rates,
            raw_rates,
            unit="deliveries/s",
            baseline=f"raw urllib3 POST of the same bodies, {concurrency} threads",
            baseline_unit="POSTs/s",
        )
    ]


class _Receipts:
    def __init__(self) -> None:
        self.first_seen: dict[str, float] = {}
        self.lock = threading.Lock()

    def server(self) -> ThreadingHTTPServer:
        receipts = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                now = time.time()
                self.rfile.read(int(self.headers.get("content-length", "0")))
                key = self.headers.get("webhook-id") or self.headers.get("x-raw-id") or ""
                with receipts.lock:
                    receipts.first_seen.setdefault(key, now)
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=20, method="inclusive")
    return statistics.median(latencies), cuts[18]


def _timed_commits(count: int, receipts: _Receipts) -> list[float]:
    """Append `count` order events one at a time; the latency of each from its commit to
    its first receipt (waiting at most 30 s for the last)."""
    committed: dict[str, float] = {}
    for _ in range(count):
        [event] = append(
            uuid.uuid4(),
            "Order",
            0,
            [OrderCreated(customer_id=uuid.uuid4(), currency="EUR", occurred_at=AT)],
        )
        committed[str(event.id)] = time.time()
        time.sleep(0.05)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with receipts.lock:
            if all(key in receipts.first_seen for key in committed):
                break
        time.sleep(0.05)
    with receipts.lock:
        return [
            receipts.first_seen[k] - t for k, t in committed.items() if k in receipts.first_seen
        ]


def commit_to_receipt_latency() -> list[Result]:
    """At the configured pump interval, and at a fifth of a second."""
    return [
        *_latency_at(settings.WEBHOOK_PUMP_INTERVAL),
        *_latency_at(0.2),
    ]


def _latency_at(interval: float) -> list[Result]:
    receipts = _Receipts()
    server = receipts.server()
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    stop = threading.Event()
    try:
        with override_settings(WEBHOOK_ALLOW_PRIVATE_TARGETS=True):
            _reset()
            subscription_create(url=url, event_types=["*"])

            def beat() -> None:
                try:
                    while not stop.is_set():
                        pump()
                        stop.wait(interval)
                finally:
                    connection.close()

            pumping = threading.Thread(target=beat, daemon=True)
            pumping.start()
            ours = _timed_commits(LATENCY_EVENTS, receipts)
            stop.set()
            pumping.join(30)
        pool = urllib3.PoolManager()

        def raw_post(event_id: str) -> None:
            pool.request("POST", url, body=b"{}", headers={"x-raw-id": f"raw-{event_id}"})

        # The baseline posts right after each commit; its ids are prefixed, see raw_post.
        raw_receipts = _timed_commits_raw(LATENCY_EVENTS, receipts, raw_post)
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
    results = []
    for label, index in (("p50", 0), ("p95", 1)):
        ours_value = _percentiles(ours)[index] * 1000
        raw_value = _percentiles(raw_receipts)[index] * 1000
        results.append(
            measured(
                f"webhook commit → receipt latency {label} (pump every {interval:g} s)",
                Side(ours_value, "ms"),
                "a raw POST right after the commit",
                Side(raw_value, "ms"),
                lower_is_better=True,
            )
        )
    return results


def _timed_commits_raw(count: int, receipts: _Receipts, post: Callable[[str], None]) -> list[float]:
    latencies = []
    for _ in range(count):
        [event] = append(
            uuid.uuid4(),
            "Order",
            0,
            [OrderCreated(customer_id=uuid.uuid4(), currency="EUR", occurred_at=AT)],
        )
        committed = time.time()
        post(str(event.id))
        with receipts.lock:
            latencies.append(receipts.first_seen[f"raw-{event.id}"] - committed)
    return latencies


BENCHMARKS = [delivery_throughput, commit_to_receipt_latency]
