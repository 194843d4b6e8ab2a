"""A keyed cart add is applied once even when the request dies between the Redis write and
remembering the answer in PostgreSQL: the retry (or the takeover of a stale claim) finds
the key recorded in Redis by the very script that changed the cart."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis
from django.db import DatabaseError
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import User
from carts import services
from commerce_project.api import idempotency
from commerce_project.api.models import IdempotencyKey
from inventory import services as inventory
from tests.carts.conftest import CARTS, create_cart, items_url
from tests.inventory.factories import ProductFactory

pytestmark = pytest.mark.django_db


def quantity_in(client: APIClient, session_id: str) -> int:
    return int(client.get(f"{CARTS}{session_id}/").json()["lines"][0]["quantity"])


def add_with_key(client: APIClient, session_id: str, body: dict[str, Any], key: str) -> Any:
    return client.post(items_url(session_id), body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def units_of(product: Any, quantity: int = 1) -> dict[str, Any]:
    return {"product_id": str(product.id), "quantity": quantity}


@pytest.fixture
def remember_fails_once(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The next `_remember` raises a database error; the count of failures still to come."""
    remember = idempotency._remember
    failures = [1]

    def flaky(row: IdempotencyKey, response: Any) -> None:
        if failures[0] > 0:
            failures[0] -= 1
            raise DatabaseError("could not remember the answer")
        remember(row, response)

    monkeypatch.setattr(idempotency, "_remember", flaky)
    return failures


def test_a_retry_after_a_database_error_in_remember_does_not_add_again(
    api_client: APIClient, remember_fails_once: list[int]
) -> None:
    # given an add whose Redis write succeeded but whose answer was never remembered
    sid, add = create_cart(api_client), units_of(ProductFactory(stock=10))
    assert add_with_key(api_client, sid, add, "add-1").status_code == 500
    assert remember_fails_once == [0]
    # when the client retries correctly, with the same key
    retried = add_with_key(api_client, sid, add, "add-1")
    # then the unit was added once
    assert retried.status_code == 200
    assert retried.json()["lines"][0]["quantity"] == 1
    assert quantity_in(api_client, sid) == 1
    # and the answer is now remembered: a further retry replays it
    again = add_with_key(api_client, sid, add, "add-1")
    assert again["Idempotent-Replayed"] == "true"
    assert quantity_in(api_client, sid) == 1


@override_settings(IDEMPOTENCY_LOCK_TIMEOUT=timedelta(seconds=0))
def test_six_single_adds_whose_workers_die_after_the_write_make_six_units(
    customer_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a worker that dies after each add's Redis write: nothing remembered or released
    sid, add = create_cart(customer_client), units_of(ProductFactory(stock=20))
    remember, release = idempotency._remember, idempotency._release
    answered = []
    for n in range(1, 7):
        key = f"add-{n}"
        monkeypatch.setattr(idempotency, "_remember", _dies)
        monkeypatch.setattr(idempotency, "_release", lambda row: None)
        assert add_with_key(customer_client, sid, add, key).status_code == 500
        assert IdempotencyKey.objects.get(key=key).status == IdempotencyKey.Status.IN_PROGRESS
        # when the client retries and takes the stale claim over
        monkeypatch.setattr(idempotency, "_remember", remember)
        monkeypatch.setattr(idempotency, "_release", release)
        retried = add_with_key(customer_client, sid, add, key)
        assert retried.status_code == 200
        answered.append(retried.json()["lines"][0]["quantity"])
    # then
    assert answered == [1, 2, 3, 4, 5, 6]
    assert quantity_in(customer_client, sid) == 6


def _dies(row: IdempotencyKey, response: Any) -> None:
    raise DatabaseError("the worker died here")


def test_the_same_key_with_another_body_after_a_failure_is_a_new_add(
    api_client: APIClient, remember_fails_once: list[int]
) -> None:
    # given a failed keyed add of one unit (applied in Redis, key released)
    sid, mug = create_cart(api_client), ProductFactory(stock=10)
    assert add_with_key(api_client, sid, units_of(mug, 1), "k").status_code == 500
    # when the key is used for another request
    response = add_with_key(api_client, sid, units_of(mug, 2), "k")
    # then it is not taken for the first
    assert response.status_code == 200
    assert quantity_in(api_client, sid) == 3


def test_an_add_without_a_key_always_adds(api_client: APIClient) -> None:
    sid, add = create_cart(api_client), units_of(ProductFactory(stock=10))
    for _ in range(3):
        assert api_client.post(items_url(sid), add, format="json").status_code == 200
    assert quantity_in(api_client, sid) == 3


def test_a_keyed_cart_create_retried_after_a_failure_is_the_same_cart(
    customer_client: APIClient, remember_fails_once: list[int], raw_redis: redis.Redis
) -> None:
    # given a cart create whose answer was never remembered
    failed = customer_client.post(CARTS, HTTP_IDEMPOTENCY_KEY="cart-1")
    assert failed.status_code == 500
    # when the client retries with the same key
    retried = customer_client.post(CARTS, HTTP_IDEMPOTENCY_KEY="cart-1")
    # then it gets the one cart the first attempt made, not a second
    assert retried.status_code == 201
    assert list(raw_redis.scan_iter("cart:*:meta")) == [f"cart:{retried.json()['session_id']}:meta"]
    # and other keys still make other carts
    other = customer_client.post(CARTS, HTTP_IDEMPOTENCY_KEY="cart-2")
    assert other.json()["session_id"] != retried.json()["session_id"]
    assert len(other.json()["session_id"]) == 43


def test_a_retry_of_an_applied_add_answers_the_cart_after_the_product_is_withdrawn(
    api_client: APIClient, remember_fails_once: list[int]
) -> None:
    # given an add whose Redis write succeeded but whose answer was never remembered
    mug = ProductFactory(stock=10)
    sid, add = create_cart(api_client), units_of(mug)
    assert add_with_key(api_client, sid, add, "add-1").status_code == 500
    # and the product withdrawn meanwhile
    inventory.product_update(product_id=mug.id, active=False)
    # when the client retries with the same key
    retried = add_with_key(api_client, sid, add, "add-1")
    # then it learns that its add was applied, once
    assert retried.status_code == 200
    assert retried.json()["lines"][0]["quantity"] == 1
    assert quantity_in(api_client, sid) == 1
    # and a new add of the withdrawn product is still refused
    assert add_with_key(api_client, sid, add, "add-2").status_code == 400


def test_a_retry_of_an_applied_add_answers_the_cart_after_checkout_claims_it(
    customer_client: APIClient, customer: User, remember_fails_once: list[int]
) -> None:
    # given an add whose Redis write succeeded but whose answer was never remembered
    sid, add = create_cart(customer_client), units_of(ProductFactory(stock=10))
    assert add_with_key(customer_client, sid, add, "add-1").status_code == 500
    # and a checkout claiming the cart meanwhile
    assert services.cart_checkout_claim(session_id=sid, user_id=customer.pk).won
    # when the client retries with the same key
    retried = add_with_key(customer_client, sid, add, "add-1")
    # then it learns that its add was applied, once
    assert retried.status_code == 200
    assert retried.json()["lines"][0]["quantity"] == 1
    # and a new add is still refused while the checkout holds the cart
    assert add_with_key(customer_client, sid, add, "add-2").status_code == 409
    assert quantity_in(customer_client, sid) == 1
