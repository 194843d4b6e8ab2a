"""What creating and confirming an order through the API costs in SQL statements, pinned so
that it does not creep back up (counts, not times), and proof that answering a command from
the aggregate it saved (instead of reading the row back) answers what the read model holds.

Counted: the statements Django's cursor sends plus the event store's prepared statements
(which bypass it), without transaction control (the test's own transaction turns every
atomic block into a SAVEPOINT)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

import eventstore.prepared
from inventory.models import Product
from tests.orders.conftest import ADDRESS_JSON, order_url

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"
# products; events INSERT; order_views upsert (a new order's row is not read first)
CREATE_STATEMENTS = 3
# the visible order; the stream; events INSERT; the row's upsert; the saga's INSERT (the row
# and the saga's customer come from the saved aggregate, not read back)
CONFIRM_STATEMENTS = 5


@contextmanager
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    sent: list[str] = []
    enter = eventstore.prepared._cursor.__enter__

    def counting_enter(self: Any) -> Any:
        sent.append("(a prepared statement)")
        return enter(self)

    with monkeypatch.context() as patch, CaptureQueriesContext(connection) as queries:
        patch.setattr(eventstore.prepared._cursor, "__enter__", counting_enter)
        yield sent
    sent += [
        q["sql"]
        for q in queries.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))
    ]


def _create(client: APIClient, widget: Product) -> Any:
    body = {
        "items": [{"product_id": str(widget.id), "quantity": 2}],
        "shipping_address": ADDRESS_JSON,
    }
    return client.post(ORDERS, body, format="json")


def test_create_and_confirm_stay_within_their_statement_budget(
    customer_client: APIClient, widget: Product, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: one order created and confirmed (the token is cached, the read model's
    # columns are known to the process)
    warm_up = _create(customer_client, widget).json()["id"]
    customer_client.post(order_url(warm_up, "confirm/"), {"payment_token": "tok_ok"}, format="json")
    # when
    with counted(monkeypatch) as create_sent:
        created = _create(customer_client, widget)
    order_id = created.json()["id"]
    with counted(monkeypatch) as confirm_sent:
        confirmed = customer_client.post(
            order_url(order_id, "confirm/"), {"payment_token": "tok_ok"}, format="json"
        )
    # then
    assert created.status_code == 201, created.content
    assert confirmed.status_code == 200, confirmed.content
    assert len(create_sent) <= CREATE_STATEMENTS, "\n".join(create_sent)
    assert len(confirm_sent) <= CONFIRM_STATEMENTS, "\n".join(confirm_sent)


def test_a_commands_answer_is_what_the_read_model_then_holds(
    customer_client: APIClient, widget: Product, gadget: Product
) -> None:
    # given
    created = _create(customer_client, widget)
    order_id = created.json()["id"]
    commands = [
        ("post", "items/", {"product_id": str(gadget.id), "quantity": 3}),
        ("put", f"items/{widget.id}/", {"quantity": 1}),
        ("post", "confirm/", {"payment_token": "tok_ok"}),
    ]
    # when / then: every answer (the create's too) equals the detail read right after it
    answer = created
    for step in range(len(commands) + 1):
        assert answer.status_code in (200, 201), answer.content
        detail = customer_client.get(order_url(order_id))
        assert answer.json() == detail.json()
        assert answer["ETag"] == detail["ETag"]
        if step < len(commands):
            method, suffix, body = commands[step]
            answer = getattr(customer_client, method)(
                order_url(order_id, suffix), body, format="json"
            )
    assert detail.json()["status"] == "CONFIRMED"
