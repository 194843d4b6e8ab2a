"""One trace follows a checkout from the HTTP request through every saga step that a real
Celery worker runs.

The test process traces with the SDK's in-memory exporter. The worker is another process, so
an in-memory exporter there could not be read from here: it exports over OTLP/HTTP (the
production path, switched on by OTEL_EXPORTER_OTLP_ENDPOINT) to a small receiver in this
test (tests/operations/otlp.py). The trace id must be the same on both sides, in the events'
metadata, and on the worker's log lines.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connections
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import User
from commerce_project.tracing import (
    libraries_instrument,
    libraries_uninstrument,
    tracer_provider_for,
)
from eventstore.models import Event
from orders.domain import saga_id_for
from sagas.domain import SagaStatus
from tests.carts.conftest import create_cart, items_url
from tests.conftest import client_for
from tests.inventory.factories import ProductFactory
from tests.operations.otlp import OtlpReceiver
from tests.sagas.worker import CeleryWorker, wait_for_saga

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FULFILMENT_STEPS = ("reserve_stock", "authorize_payment", "capture_payment", "send_confirmation")
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}


@pytest.fixture
def spans_here() -> Iterator[InMemorySpanExporter]:
    """This process traced into memory: Django, psycopg, redis and Celery instrumented (the
    database connections reopened, so SQL is traced), undone afterwards."""
    exporter = InMemorySpanExporter()
    libraries_instrument(tracer_provider_for(exporter, SimpleSpanProcessor))
    _reconnect()
    try:
        yield exporter
    finally:
        libraries_uninstrument()
        _reconnect()


def _reconnect() -> None:
    """New connections, made through the (un)instrumented connect: with Django's pool a
    closed connection only goes back to the pool, so the pool itself is closed too."""
    connections.close_all()
    for connection in connections.all():
        close_pool = getattr(connection, "close_pool", None)
        if close_pool is not None:
            close_pool()


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as started:
        yield started


@pytest.fixture
def tracing_worker(
    receiver: OtlpReceiver, tmp_path: Path, settings: SettingsWrapper
) -> Iterator[CeleryWorker]:
    worker = CeleryWorker(
        log_dir=tmp_path,
        email_dir=tmp_path / "mail",
        extra_env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_SERVICE_NAME": "commerce-worker",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        },
    )
    worker.start()
    settings.SAGA_QUEUE = worker.queue
    try:
        yield worker
    finally:
        worker.stop()


def _checkout_span(spans: tuple[ReadableSpan, ...]) -> ReadableSpan:
    servers = [
        s
        for s in spans
        if s.kind is SpanKind.SERVER and "checkout" in str((s.attributes or {}).get("http.route"))
    ]
    assert len(servers) == 1, [s.name for s in spans]
    return servers[0]


def test_a_checkout_and_its_saga_steps_share_one_trace(
    spans_here: InMemorySpanExporter,
    receiver: OtlpReceiver,
    tracing_worker: CeleryWorker,
    customer: User,
) -> None:
    # given a customer with a filled cart
    client = client_for(customer)
    product = ProductFactory(price=Decimal("9.90"), stock=5)
    session_id = create_cart(client)
    added = client.post(items_url(session_id), {"product_id": str(product.id), "quantity": 1})
    assert added.status_code in (200, 201)
    spans_here.clear()
    # when the customer checks out and the worker runs the saga
    response = client.post(
        f"/api/v1/carts/{session_id}/checkout/",
        {"payment_token": "tok_ok", "shipping_address": ADDRESS},
    )
    assert response.status_code == 202, response.content
    order_id = uuid.UUID(response.json()["order_id"])
    wait_for_saga(
        saga_id_for(order_id),
        lambda saga: saga.status == SagaStatus.COMPLETED,
        worker=tracing_worker,
    )
    # then the checkout request is a server span, with SQL and Redis spans in its trace
    here = spans_here.get_finished_spans()
    checkout = _checkout_span(here)
    trace_id = format(checkout.context.trace_id, "032x")
    in_trace = [s for s in here if format(s.context.trace_id, "032x") == trace_id]
    assert any((s.attributes or {}).get("db.system") == "postgresql" for s in in_trace)
    assert any((s.attributes or {}).get("db.system") == "redis" for s in in_trace)
    assert any(s.kind is SpanKind.PRODUCER for s in in_trace)  # the saga's first publish
    # and every saga step the worker ran is a span of that same trace, inside a task span
    wanted = {f"saga step {step}" for step in FULFILMENT_STEPS}
    task_run = "run/sagas.tasks.advance_saga"  # ended (and exported) after its steps
    received = receiver.wait_for(lambda spans: wanted | {task_run} <= {s.name for s in spans})
    steps = [s for s in received if s.name in wanted]
    assert {s.trace_id for s in steps} == {trace_id}
    assert {s.service for s in steps} == {"commerce-worker"}
    worker_spans = [s for s in received if s.trace_id == trace_id]
    assert any(s.name == task_run for s in worker_spans), {(s.name, s.trace_id) for s in received}
    assert any("db.system" in s.attributes for s in worker_spans)  # the worker's SQL
    # and every event of the order, appended by the request or by the worker, carries it
    events = Event.objects.filter(aggregate_id=order_id).order_by("version")
    assert [e.event_type for e in events][-1] == "OrderPaid"
    assert {e.metadata.get("trace_id") for e in events} == {trace_id}
    # and the worker's log lines name the trace
    assert trace_id in tracing_worker.log()
