"""Fifty customers check out at once over HTTP (a threaded server in this process, one client
thread and one database connection per request) for ten units, and a real worker runs their
sagas: stock is never oversold, and nobody pays for what they do not get."""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application
from django.db import connection
from rest_framework.test import APIClient

from orders.domain import saga_id_for
from orders.models import OrderView
from payments.models import Payment
from sagas.domain import ACTIVE_STATUSES
from sagas.models import SagaInstance
from tests.conftest import token_for
from tests.factories import UserFactory
from tests.sagas.shop import assert_stock_consistent, reservation_statuses, stock, stocked_product
from tests.sagas.worker import CeleryWorker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BUYERS = 50
UNITS = 10
ADDRESS = {
    "name": "Grace Hopper",
    "line1": "1 Navy Way",
    "city": "Arlington",
    "postal_code": "22202",
    "country": "US",
}


class _BurstServer(ThreadedWSGIServer):
    """Django's threaded test server (each request thread closes its database connections),
    with a listen backlog that takes fifty connections arriving at once."""

    request_queue_size = 128


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def patient_pool() -> Iterator[None]:
    """Fifty request threads share the test run's 32 pooled connections: on a busy machine
    some wait longer for one than the test settings' 1 s (set so that outage tests fail
    fast), and would be answered 503. Production's 5 s wait, for this test."""
    pool = connection.settings_dict["OPTIONS"]["pool"]
    before = pool["timeout"]
    connection.close()
    connection.close_pool()
    pool["timeout"] = 5.0
    yield
    connection.close()
    connection.close_pool()
    pool["timeout"] = before


@pytest.fixture
def http_port(transactional_db: None, patient_pool: None) -> Iterator[int]:
    server = _BurstServer(("127.0.0.1", 0), _QuietHandler)
    server.set_app(get_wsgi_application())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def checkout(port: int, token: str, session_id: str) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST",
            f"/api/v1/carts/{session_id}/checkout/",
            body=json.dumps({"payment_token": "tok_ok", "shipping_address": ADDRESS}),
            headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


# Redis only: the broker makes no difference to the stock race, and the RabbitMQ variants of
# the worker tests (test_worker, test_fulfilment_worker) already cover publishing and running.
@pytest.mark.parametrize("saga_worker", ["redis"], indirect=True)
def test_fifty_concurrent_checkouts_for_ten_units_pay_exactly_ten_orders(
    saga_worker: CeleryWorker, http_port: int
) -> None:
    # given: fifty customers, each with one unit of the same product in their cart
    lamp = stocked_product(UNITS, price="30.00")
    buyers = []
    for _ in range(BUYERS):
        user = UserFactory()
        token = token_for(user)
        client = APIClient(raise_request_exception=False)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        cart = client.post("/api/v1/carts/").json()["session_id"]
        added = client.post(
            f"/api/v1/carts/{cart}/items/", {"product_id": str(lamp.pk), "quantity": 1}
        )
        assert added.status_code in (200, 201), added.content
        buyers.append((token, cart))
    answers: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()
    start = threading.Barrier(BUYERS)

    def buy(token: str, cart: str) -> None:
        start.wait()
        answer = checkout(http_port, token, cart)
        with lock:
            answers.append(answer)

    # when: all at once
    threads = [threading.Thread(target=buy, args=buyer) for buyer in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    accepted = [uuid.UUID(str(body["order_id"])) for status, body in answers if status == 202]
    sagas = SagaInstance.objects.filter(pk__in=[saga_id_for(o) for o in accepted])
    deadline = time.monotonic() + 60
    while sagas.filter(status__in=ACTIVE_STATUSES).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    # then: every checkout was accepted or refused at once as out of stock
    assert len(answers) == BUYERS
    assert {status for status, _ in answers} <= {202, 409}, answers
    assert all(body["type"].endswith("out-of-stock") for status, body in answers if status == 409)
    assert not sagas.filter(status__in=ACTIVE_STATUSES).exists(), saga_worker.log()[-3000:]
    # exactly ten orders paid; every other accepted order cancelled for want of stock
    outcomes = Counter(
        OrderView.objects.filter(pk__in=accepted).values_list("status", "cancellation_reason")
    )
    assert outcomes == {
        ("PAID", ""): UNITS,
        ("CANCELLED", "out_of_stock"): len(accepted) - UNITS,
    }
    # nobody paid for nothing, and stock and ledger agree
    assert sorted(Payment.objects.values_list("status", flat=True)) == ["CAPTURED"] * UNITS
    assert stock(lamp) == (0, 0)
    paid = OrderView.objects.filter(status="PAID").values_list("order_id", flat=True)
    assert all(reservation_statuses(o) == ["COMMITTED"] for o in paid)
    assert_stock_consistent()
