"""Checkout over HTTP: a cart becomes one confirmed order, never two."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

import carts.checkout
from accounts.models import User
from carts.services import cart_checkout_order_id
from eventstore.commands import dispatch
from eventstore.store import load
from inventory.models import Product
from orders.catalogue import product_infos_get
from orders.commands import CreateOrder, LineRequest, PlaceOrder
from orders.domain import Actor, saga_id_for
from orders.exceptions import ActionForbidden
from orders.models import OrderView
from tests.carts.conftest import create_cart, items_url
from tests.commerce_project.test_problems import assert_problem
from tests.conftest import client_for
from tests.inventory.factories import ProductFactory
from tests.orders.test_command_round_trips import counted
from tests.sql import transaction_blocks

ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}


def checkout_url(session_id: str) -> str:
    return f"/api/v1/carts/{session_id}/checkout/"


def checkout_body(**overrides: Any) -> dict[str, Any]:
    return {"payment_token": "tok_ok", "shipping_address": ADDRESS, **overrides}


def filled_cart(client: APIClient, *lines: tuple[Product, int]) -> str:
    session_id = create_cart(client)
    for product, quantity in lines:
        response = client.post(
            items_url(session_id), {"product_id": str(product.id), "quantity": quantity}
        )
        assert response.status_code in (200, 201), response.content
    return session_id


def orders_count() -> int:
    return OrderView.objects.count()


@pytest.mark.django_db
def test_checkout_creates_and_confirms_one_order_and_clears_the_cart(
    customer_client: APIClient, customer: User, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    pen = ProductFactory(price=Decimal("2.50"), stock=10)
    ink = ProductFactory(price=Decimal("4.00"), stock=10)
    session_id = filled_cart(customer_client, (pen, 2), (ink, 1))
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = customer_client.post(checkout_url(session_id), checkout_body())
    # then
    assert response.status_code == 202, response.content
    body = response.json()
    order_id = uuid.UUID(body["order_id"])
    assert body["saga_id"] == str(saga_id_for(order_id))
    assert body["status"] == "CONFIRMED"
    assert body["already_checked_out"] is False
    assert (body["total"], body["currency"]) == ("9.00", "EUR")
    assert response["Location"] == f"/api/v1/orders/{order_id}/"
    view = OrderView.objects.get(pk=order_id)
    assert view.customer_id == customer.pk
    assert view.status == "CONFIRMED"
    assert view.total_amount == Decimal("9.00")
    assert [e.event_type for e in load(order_id)][-1] == "OrderConfirmed"
    assert customer_client.get(f"/api/v1/carts/{session_id}/").status_code == 404
    order = customer_client.get(response["Location"])
    assert order.status_code == 200
    assert {line["quantity"] for line in order.json()["items"]} == {1, 2}


@pytest.mark.django_db
def test_prices_that_changed_since_the_customer_saw_them_are_409(
    customer_client: APIClient,
) -> None:
    # given a cart worth 5.00 when the customer looked
    pen = ProductFactory(price=Decimal("2.50"), stock=10)
    session_id = filled_cart(customer_client, (pen, 2))
    Product.objects.filter(pk=pen.pk).update(price=Decimal("3.00"))
    # when
    response = customer_client.post(checkout_url(session_id), checkout_body(expected_total="5.00"))
    # then
    body = assert_problem(response, 409, "price-changed")
    assert (body["total"], body["expected_total"]) == ("6.00", "5.00")
    assert orders_count() == 0
    # and the cart is free again: the customer can accept the new total
    again = customer_client.post(checkout_url(session_id), checkout_body(expected_total="6.00"))
    assert again.status_code == 202
    assert again.json()["total"] == "6.00"


@pytest.mark.django_db
def test_an_empty_cart_cannot_be_checked_out(customer_client: APIClient) -> None:
    session_id = create_cart(customer_client)
    response = customer_client.post(checkout_url(session_id), checkout_body())
    assert_problem(response, 400, "invalid-input")
    assert orders_count() == 0


@pytest.mark.django_db
def test_an_obvious_shortage_is_refused_at_once(customer_client: APIClient) -> None:
    # given a cart line for 3 units while only 3 exist, then someone else takes 2
    pen = ProductFactory(stock=3)
    session_id = filled_cart(customer_client, (pen, 3))
    from inventory.services import stock_reserve

    stock_reserve(order_id=uuid.uuid4(), lines=[(pen.id, 2)])
    # when
    response = customer_client.post(checkout_url(session_id), checkout_body())
    # then
    body = assert_problem(response, 409, "out-of-stock")
    assert body["available"] == 1
    assert orders_count() == 0
    # and the cart can be changed again
    fixed = customer_client.put(items_url(session_id, pen.id), {"quantity": 1})
    assert fixed.status_code == 200


@pytest.mark.django_db
def test_bad_input_names_each_field_and_creates_nothing(customer_client: APIClient) -> None:
    pen = ProductFactory(stock=3)
    session_id = filled_cart(customer_client, (pen, 1))
    response = customer_client.post(
        checkout_url(session_id),
        {"shipping_address": {**ADDRESS, "country": "XX", "city": ""}},
    )
    body = assert_problem(response, 400, "invalid-input")
    assert set(body["errors"]) == {  # type: ignore[arg-type]
        "payment_token",
        "shipping_address.country",
        "shipping_address.city",
    }
    assert orders_count() == 0


@pytest.mark.django_db
def test_checking_out_twice_in_sequence_yields_the_same_order_and_says_so(
    customer_client: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    # given
    pen = ProductFactory(stock=5)
    session_id = filled_cart(customer_client, (pen, 1))
    with django_capture_on_commit_callbacks(execute=True):
        first = customer_client.post(checkout_url(session_id), checkout_body())
    # when
    second = customer_client.post(checkout_url(session_id), checkout_body())
    # then the first call created the order (202); the repeat is answered with it (200)
    assert (first.status_code, second.status_code) == (202, 200)
    assert first.json()["already_checked_out"] is False
    assert second.json() == {**first.json(), "already_checked_out": True}
    assert second["Location"] == first["Location"]
    assert orders_count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "repeat",
    [
        {"payment_token": "tok_declined"},
        {"expected_total": "10.00"},
        {"payment_token": "tok_other", "expected_total": "10.00"},
        {"shipping_address": {**ADDRESS, "city": "Paris", "country": "FR"}},
    ],
)
def test_a_repeat_with_new_data_changes_nothing_and_says_the_cart_was_checked_out(
    customer_client: APIClient, django_capture_on_commit_callbacks: Any, repeat: dict[str, Any]
) -> None:
    # given a checked-out cart worth 10.00
    pen = ProductFactory(stock=5, price=Decimal("10.00"))
    session_id = filled_cart(customer_client, (pen, 1))
    with django_capture_on_commit_callbacks(execute=True):
        first = customer_client.post(checkout_url(session_id), checkout_body())
    order_id = uuid.UUID(first.json()["order_id"])
    events_before = len(load(order_id))
    # when the checkout is repeated with other data (and a total that matches the order)
    second = customer_client.post(checkout_url(session_id), checkout_body(**repeat))
    # then it answers with the existing order, flagged, and the new data is not used
    assert second.status_code == 200, second.content
    assert second.json() == {**first.json(), "already_checked_out": True}
    assert len(load(order_id)) == events_before
    confirmed = load(order_id)[-1].event
    assert confirmed.payment_token == "tok_ok"  # type: ignore[attr-defined]
    assert orders_count() == 1


@pytest.mark.django_db
def test_a_repeat_expecting_another_total_is_a_conflict_naming_the_order(
    customer_client: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    # given a checked-out cart worth 10.00
    pen = ProductFactory(stock=5, price=Decimal("10.00"))
    session_id = filled_cart(customer_client, (pen, 1))
    with django_capture_on_commit_callbacks(execute=True):
        first = customer_client.post(checkout_url(session_id), checkout_body())
    order_id = first.json()["order_id"]
    # when the repeat expects a total the order does not have
    response = customer_client.post(
        checkout_url(session_id), checkout_body(expected_total="12.00", payment_token="tok_new")
    )
    # then
    body = assert_problem(response, 409, "concurrency-conflict")
    assert body["detail"] == f"This cart was already checked out as order {order_id}."
    assert body["order_id"] == order_id
    assert (body["total"], body["expected_total"], body["currency"]) == ("10.00", "12.00", "EUR")
    assert orders_count() == 1


@pytest.mark.django_db
def test_an_address_without_line2_may_send_null(customer_client: APIClient) -> None:
    pen = ProductFactory(stock=5)
    session_id = filled_cart(customer_client, (pen, 1))
    response = customer_client.post(
        checkout_url(session_id),
        checkout_body(shipping_address={**ADDRESS, "line2": None}),
        format="json",
    )
    assert response.status_code == 202, response.content
    order = OrderView.objects.get(pk=response.json()["order_id"])
    assert order.shipping_address is not None
    assert order.shipping_address["line2"] == ""


@pytest.mark.django_db
def test_an_idempotency_key_replays_the_checkout(customer_client: APIClient) -> None:
    pen = ProductFactory(stock=5)
    session_id = filled_cart(customer_client, (pen, 1))
    first = customer_client.post(
        checkout_url(session_id), checkout_body(), HTTP_IDEMPOTENCY_KEY="pay-1"
    )
    second = customer_client.post(
        checkout_url(session_id), checkout_body(), HTTP_IDEMPOTENCY_KEY="pay-1"
    )
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert second["Location"] == first["Location"]
    assert orders_count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_checkouts_of_one_cart_yield_one_order(customer: User) -> None:
    # given
    pen = ProductFactory(stock=5)
    session_id = filled_cart(client_for(customer), (pen, 1))
    barrier = threading.Barrier(8)

    def attempt() -> tuple[int, str | None]:
        try:
            client = client_for(customer)
            barrier.wait(timeout=10)
            response = client.post(checkout_url(session_id), checkout_body())
            body = response.json()
            return response.status_code, body.get("order_id")
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: attempt(), range(8)))
    # then one call created the order (202); each other one either met the checkout in
    # progress (409 concurrency-conflict) or found it done (200, the same order, flagged)
    assert orders_count() == 1
    statuses = [status for status, _ in outcomes]
    assert set(statuses) <= {202, 200, 409}
    assert statuses.count(202) == 1
    assert len({order_id for status, order_id in outcomes if status in (200, 202)}) == 1


def _committed_by_an_earlier_attempt(
    client: APIClient, customer: User, product: Product
) -> tuple[str, uuid.UUID]:
    """A cart of one `product` whose order was committed under its derived id by a checkout
    that then died before clearing the cart: (session id, order id)."""
    session_id = filled_cart(client, (product, 1))
    order_id = cart_checkout_order_id(session_id=session_id)
    dispatch(
        CreateOrder(
            order_id=order_id,
            actor=Actor.customer(customer.pk),
            customer_id=customer.pk,
            lines=(LineRequest(product_id=product.id, quantity=1),),
        )
    )
    return session_id, order_id


@pytest.mark.django_db
def test_a_checkout_that_died_after_commit_is_answered_with_its_order(
    customer_client: APIClient, customer: User
) -> None:
    # given an order already committed under the cart's derived id (the process then died
    # before clearing the cart)
    session_id, order_id = _committed_by_an_earlier_attempt(
        customer_client, customer, ProductFactory(stock=5)
    )
    # when
    response = customer_client.post(checkout_url(session_id), checkout_body())
    # then the order is not created again: the repeat answers with it
    assert response.status_code == 200
    assert response.json()["order_id"] == str(order_id)
    assert response.json()["already_checked_out"] is True
    assert orders_count() == 1
    assert customer_client.get(f"/api/v1/carts/{session_id}/").status_code == 404


@pytest.mark.django_db
def test_a_checkout_that_died_after_commit_is_its_order_even_after_the_price_moved(
    customer_client: APIClient, customer: User
) -> None:
    # given an order committed under the cart's derived id at 2.50, and the price moved since
    pen = ProductFactory(price=Decimal("2.50"), stock=5)
    session_id, order_id = _committed_by_an_earlier_attempt(customer_client, customer, pen)
    Product.objects.filter(pk=pen.pk).update(price=Decimal("3.00"))
    # when: the repeat expects the total it was shown
    response = customer_client.post(checkout_url(session_id), checkout_body(expected_total="2.50"))
    # then: answered with the committed order, not refused for the new price
    assert response.status_code == 200, response.content
    assert response.json()["order_id"] == str(order_id)
    assert orders_count() == 1


@pytest.mark.django_db
def test_an_anonymous_cart_becomes_the_customers_at_checkout(
    api_client: APIClient, customer_client: APIClient, other_customer_client: APIClient
) -> None:
    pen = ProductFactory(stock=5)
    session_id = filled_cart(api_client, (pen, 1))
    response = customer_client.post(checkout_url(session_id), checkout_body())
    assert response.status_code == 202
    assert other_customer_client.post(checkout_url(session_id), checkout_body()).status_code == 404


@pytest.mark.django_db
def test_someone_elses_cart_is_not_found(
    customer_client: APIClient, other_customer_client: APIClient
) -> None:
    pen = ProductFactory(stock=5)
    session_id = filled_cart(customer_client, (pen, 1))
    response = other_customer_client.post(checkout_url(session_id), checkout_body())
    assert_problem(response, 404, "not-found")
    assert orders_count() == 0


@pytest.mark.django_db
def test_checkout_needs_a_signed_in_customer(api_client: APIClient) -> None:
    pen = ProductFactory(stock=5)
    session_id = filled_cart(api_client, (pen, 1))
    assert_problem(
        api_client.post(checkout_url(session_id), checkout_body()), 401, "not-authenticated"
    )


@pytest.mark.django_db
def test_checkout_places_the_order_in_one_append_priced_as_checked(
    customer_client: APIClient, customer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a cart worth 5.00; the catalogue is read once, and the price moves right after
    # that read (before the order is written)
    pen = ProductFactory(price=Decimal("2.50"), stock=10)
    session_id = filled_cart(customer_client, (pen, 2))
    reads = []

    def read_then_price_moves(product_ids: list[uuid.UUID]) -> Any:
        reads.append(product_ids)
        infos = product_infos_get(product_ids)
        Product.objects.filter(pk=pen.pk).update(price=Decimal("3.00"))
        return infos

    monkeypatch.setattr(carts.checkout, "product_infos_get", read_then_price_moves)
    # when
    response = customer_client.post(checkout_url(session_id), checkout_body(expected_total="5.00"))
    # then: the order is the total that was checked, from the one read
    assert response.status_code == 202, response.content
    order_id = uuid.UUID(response.json()["order_id"])
    assert len(reads) == 1
    assert OrderView.objects.get(pk=order_id).total_amount == Decimal("5.00")
    events = load(order_id)
    assert (events[0].event_type, events[-1].event_type) == ("OrderCreated", "OrderConfirmed")
    assert len({e.transaction_id for e in events}) == 1
    assert {e.metadata["command"] for e in events} == {"PlaceOrder"}


@pytest.mark.django_db(transaction=True)
def test_a_checkout_writes_in_one_transaction_without_a_savepoint(
    customer_client: APIClient,
) -> None:
    # given (a transactional test: no test transaction around the request)
    pen = ProductFactory(stock=10)
    session_id = filled_cart(customer_client, (pen, 1))
    # when
    with transaction_blocks() as opened:
        response = customer_client.post(checkout_url(session_id), checkout_body())
    # then: the command's transaction, not nested in another block (a savepoint would cost
    # two more round trips)
    assert response.status_code == 202, response.content
    assert opened == ["BEGIN"]


@pytest.mark.django_db
def test_a_customer_cannot_place_an_order_for_someone_else(
    customer: User, other_customer: User
) -> None:
    pen = ProductFactory(stock=5)
    with pytest.raises(ActionForbidden):
        dispatch(
            PlaceOrder(
                order_id=uuid.uuid4(),
                actor=Actor.customer(customer.pk),
                customer_id=other_customer.pk,
                lines=(LineRequest(product_id=pen.id, quantity=1),),
                payment_token="tok_ok",
            )
        )
    assert orders_count() == 0


# the catalogue; events INSERT; order_views upsert (made from the new aggregate); the
# saga's INSERT (the order's existence is looked for only when placing it fails)
CHECKOUT_STATEMENTS = 4


@pytest.mark.django_db
def test_a_checkout_stays_within_its_statement_budget(
    customer_client: APIClient,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # given: a warm process and stock cache (one checkout done and committed)
    pen = ProductFactory(stock=10)
    with django_capture_on_commit_callbacks(execute=True):
        customer_client.post(checkout_url(filled_cart(customer_client, (pen, 1))), checkout_body())
    session_id = filled_cart(customer_client, (pen, 1))
    # when
    with counted(monkeypatch) as sent:
        response = customer_client.post(checkout_url(session_id), checkout_body())
    # then
    assert response.status_code == 202, response.content
    assert len(sent) <= CHECKOUT_STATEMENTS, "\n".join(sent)
