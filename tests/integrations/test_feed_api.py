"""GET /api/v1/feed/: who may read it, what a page looks like, and what is refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import User
from eventstore.store import append
from integrations.cursor import FeedPosition, cursor_encode
from orders.domain import OrderConfirmed, OrderItemRemoved
from tests.commerce_project.test_problems import assert_problem
from tests.conftest import client_for
from tests.eventstore.conftest import wait_until_readable
from tests.factories import UserFactory, staff_with
from tests.integrations.conftest import PRODUCT_ID, append_order_event

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/feed/"


@pytest.fixture
def reader() -> APIClient:
    return client_for(staff_with("eventstore.view_feed"))


def _get(client: APIClient, **params: Any) -> Any:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_anonymous_callers_are_asked_to_authenticate(api_client: APIClient) -> None:
    assert_problem(api_client.get(URL), 401, "not-authenticated")


@pytest.mark.parametrize("is_staff", [False, True])
def test_users_without_the_permission_are_refused(is_staff: bool) -> None:
    # given staff (or a customer) without eventstore.view_feed
    client = client_for(UserFactory(is_staff=is_staff))
    # when / then
    body = assert_problem(client.get(URL), 403, "forbidden")
    assert "eventstore.view_feed" in str(body["detail"])


def test_a_page_holds_cloudevents_each_with_the_position_after_it(reader: APIClient) -> None:
    # given two orders' events
    first, second = uuid.uuid4(), uuid.uuid4()
    written = [append_order_event(first, 1), append_order_event(second, 1)]
    written.append(append_order_event(first, 2))
    wait_until_readable()
    # when
    body = _get(reader, limit=2)
    # then
    assert [e["id"] for e in body["events"]] == [str(e.id) for e in written[:2]]
    event = body["events"][0]
    assert event["specversion"] == "1.0"
    assert event["type"] == "commerce.orders.OrderItemQuantityChanged"
    assert event["subject"] == str(first)
    assert event["sequence"] == 1
    assert body["next"] == body["events"][1]["position"]
    # and the next page goes on after the last event, and one after it is empty
    following = _get(reader, after=body["next"])
    assert [e["id"] for e in following["events"]] == [str(written[2].id)]
    assert [e["id"] for e in _get(reader, after=event["position"])["events"]] == [
        str(e.id) for e in written[1:]
    ]
    last = _get(reader, after=following["next"])
    assert last == {"events": [], "next": following["next"]}


def test_a_type_filter_answers_only_those_types(reader: APIClient) -> None:
    # given
    order_id = uuid.uuid4()
    append_order_event(order_id, 1)
    removed = append(
        order_id,
        "Order",
        1,
        [OrderItemRemoved(product_id=PRODUCT_ID, occurred_at=datetime(2026, 1, 1, tzinfo=UTC))],
    )[0]
    append_order_event(order_id, 3)
    wait_until_readable()
    # when
    body = _get(reader, types="commerce.orders.OrderItemRemoved,commerce.orders.OrderPaid")
    # then
    assert [e["id"] for e in body["events"]] == [str(removed.id)]
    assert _get(reader, after=body["next"], types="commerce.orders.OrderItemRemoved") == {
        "events": [],
        "next": body["next"],
    }


def test_the_payment_token_is_redacted_in_the_feed(reader: APIClient) -> None:
    # given
    confirmed = OrderConfirmed(
        payment_token="tok_feed_secret",
        total_amount=Decimal("9.99"),
        currency="EUR",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    append(uuid.uuid4(), "Order", 0, [confirmed])
    wait_until_readable()
    # when
    response = reader.get(URL)
    # then
    assert response.status_code == 200
    assert response.json()["events"][0]["data"]["payment_token"] == "[redacted]"
    assert b"tok_feed_secret" not in response.content


@pytest.mark.parametrize(
    "params",
    [
        {"after": "garbage!"},
        {"after": cursor_encode(FeedPosition(1, 1)) + "=="},
        {"after": cursor_encode(FeedPosition(1, 1, within=1))},  # names no event
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "many"},
        {"wait": "31"},
        {"wait": "-1"},
        {"types": "commerce.orders.NoSuchThing"},
        {"types": "OrderPaid"},
        {"types": "commerce.orders.OrderNoteAdded"},  # internal, never published
        {"types": ","},
    ],
)
def test_bad_input_is_an_invalid_input_problem(reader: APIClient, params: dict[str, str]) -> None:
    assert_problem(reader.get(URL, params), 400, "invalid-input")


def test_create_integration_client_prints_a_token_that_reads_the_feed() -> None:
    # given
    out, err = StringIO(), StringIO()
    # when
    call_command("create_integration_client", "fulfilment", stdout=out, stderr=err)
    # then the account is no staff, has no password, and its token reads the feed
    token = out.getvalue().strip()
    user = User.objects.get(username="fulfilment")
    assert not user.is_staff
    assert not user.has_usable_password()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(URL).status_code == 200
    assert "fulfilment" in err.getvalue()
    # and a second account of that name is refused
    with pytest.raises(CommandError, match="exists already"):
        call_command("create_integration_client", "Fulfilment", stdout=out, stderr=err)
