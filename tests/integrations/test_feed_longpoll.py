"""`wait` long-polls: a waiting request answers as soon as an event commits (one LISTEN
connection per process wakes it), and an empty page with the same cursor when none does."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from eventstore.store import append
from integrations.cursor import START, cursor_encode
from integrations.event_notifications import event_notifications
from orders.domain import OrderPaid
from tests.conftest import client_for
from tests.eventstore.conftest import InThread, wait_until_readable
from tests.factories import staff_with
from tests.integrations.conftest import append_order_event

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("notifications"),
]

URL = "/api/v1/feed/"


@pytest.fixture
def reader_token() -> Any:
    client = client_for(staff_with("eventstore.view_feed"))
    return client._credentials["HTTP_AUTHORIZATION"]


def _waiting_get(authorization: str, started: threading.Event, **params: Any) -> Any:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=authorization)
    started.set()
    return client.get(URL, params)


def test_a_waiting_request_answers_when_an_event_commits(reader_token: str) -> None:
    # given two requests waiting up to 20 s at the end of the feed
    started = [threading.Event(), threading.Event()]
    waiting = [
        InThread(lambda s=s: _waiting_get(reader_token, s, wait=20, after=cursor_encode(START)))
        for s in started
    ]
    assert all(s.wait(10) for s in started)
    time.sleep(0.3)  # let them reach their wait (if not, they find the event on reading)
    # when an event commits
    order_id = uuid.uuid4()
    appended = append_order_event(order_id, 1)
    # then both answer with it, long before their wait is over
    responses = [w.join(timeout=10) for w in waiting]
    assert all(w.error is None for w in waiting)
    for response in responses:
        assert response.status_code == 200, response.content
        assert [e["id"] for e in response.json()["events"]] == [str(appended.id)]
    # and one connection per process listened for them all
    assert event_notifications.listening
    assert len(_listener_pids()) == 1


def test_a_waiting_request_ignores_events_its_filter_hides(reader_token: str) -> None:
    # given a request waiting for order payments only
    started = threading.Event()
    waiting = InThread(
        lambda: _waiting_get(reader_token, started, wait=20, types="commerce.orders.OrderPaid")
    )
    assert started.wait(10)
    time.sleep(0.3)
    order_id = uuid.uuid4()
    # when an event of another type commits, and then a payment
    append_order_event(order_id, 1)
    wait_until_readable()
    time.sleep(0.3)
    paid = append(order_id, "Order", 1, [_paid()])[0]
    # then it answers with the payment alone, before its wait is over
    response = waiting.join(timeout=10)
    assert waiting.error is None
    assert [e["id"] for e in response.json()["events"]] == [str(paid.id)]


def _paid() -> OrderPaid:
    return OrderPaid(
        payment_id=uuid.uuid4(),
        amount=Decimal("1.00"),
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_with_nothing_new_the_wait_ends_with_an_empty_page_and_the_same_cursor(
    reader_token: str,
) -> None:
    # given the end of the feed
    append_order_event(uuid.uuid4(), 1)
    wait_until_readable()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=reader_token)
    end = client.get(URL).json()["next"]
    # when a request waits a moment and nothing commits
    response = client.get(URL, {"after": end, "wait": "0.3"})
    # then
    assert response.status_code == 200
    assert response.json() == {"events": [], "next": end}


def test_beyond_the_waiting_limit_a_request_answers_at_once(
    reader_token: str, settings: Any
) -> None:
    # given no request may wait in this process
    settings.FEED_MAX_WAITING_REQUESTS = 0
    started = threading.Event()
    # when a request asks to wait 20 s at the end of the feed
    request = InThread(lambda: _waiting_get(reader_token, started, wait=20))
    # then it answers an empty page without waiting (well before 20 s)
    response = request.join(timeout=10)
    assert request.error is None
    assert response.status_code == 200
    assert response.json()["events"] == []


def _listener_pids() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND query = 'LISTEN commerce_events'"
        )
        return [int(row[0]) for row in cursor.fetchall()]


def test_a_lost_listening_connection_is_replaced_and_waiters_still_wake(
    reader_token: str,
) -> None:
    # given the listener runs, and its connection is killed by the server
    event_notifications.mark()
    assert event_notifications.listening
    [killed] = _listener_pids()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [killed])
    # when a request waits and an event commits
    started = threading.Event()
    waiting = InThread(lambda: _waiting_get(reader_token, started, wait=20))
    assert started.wait(10)
    time.sleep(0.3)
    appended = append_order_event(uuid.uuid4(), 1)
    # then the request still answers with it before its wait is over
    response = waiting.join(timeout=10)
    assert waiting.error is None
    assert [e["id"] for e in response.json()["events"]] == [str(appended.id)]
    # and the process listens again, on a new connection
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (
        event_notifications.listening and _listener_pids() not in ([], [killed])
    ):
        time.sleep(0.05)
    assert event_notifications.listening
    assert len(_listener_pids()) == 1
    assert _listener_pids() != [killed]
