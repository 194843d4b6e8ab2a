"""What checkout builds on: one atomic claim per cart, cleared after commit, one order."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
import redis
from django.db import transaction
from rest_framework.test import APIClient

from accounts.models import User
from carts import services
from carts.exceptions import CartCheckedOut, CartEmpty, CartNotFound
from tests.carts.conftest import CARTS, items_url
from tests.commerce_project.test_problems import assert_problem
from tests.inventory.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def filled_cart() -> tuple[str, dict[UUID, int]]:
    """An anonymous cart with two lines."""
    mug, pen = ProductFactory(stock=10), ProductFactory(stock=10)
    cart = services.cart_create(user_id=None)
    services.cart_item_add(session_id=cart.session_id, user_id=None, product_id=mug.id, quantity=2)
    services.cart_item_add(session_id=cart.session_id, user_id=None, product_id=pen.id, quantity=1)
    return cart.session_id, {mug.id: 2, pen.id: 1}


def test_a_claim_returns_the_lines_and_hands_the_cart_to_the_customer(
    filled_cart: tuple[str, dict[UUID, int]], customer: User
) -> None:
    # given
    sid, lines = filled_cart
    # when
    claim = services.cart_checkout_claim(session_id=sid, user_id=customer.pk)
    # then
    assert claim.won
    assert claim.lines == lines
    assert claim.order_id == services.cart_checkout_order_id(session_id=sid)
    assert services.cart_get(session_id=sid, user_id=customer.pk).owner_id == customer.pk
    with pytest.raises(CartNotFound):  # no longer anyone's
        services.cart_get(session_id=sid, user_id=None)


def test_a_claimed_cart_cannot_change(
    filled_cart: tuple[str, dict[UUID, int]], customer: User, customer_client: APIClient
) -> None:
    # given
    sid, lines = filled_cart
    services.cart_checkout_claim(session_id=sid, user_id=customer.pk)
    product_id = next(iter(lines))
    # when
    add = customer_client.post(items_url(sid), {"product_id": str(product_id), "quantity": 1})
    delete = customer_client.delete(f"{CARTS}{sid}/")
    view = customer_client.get(f"{CARTS}{sid}/")
    # then
    assert_problem(add, 409, "concurrency-conflict")
    assert_problem(delete, 409, "concurrency-conflict")
    assert view.json()["status"] == "CHECKING_OUT"


def test_a_second_claim_loses_to_the_first(
    filled_cart: tuple[str, dict[UUID, int]], customer: User
) -> None:
    sid, _ = filled_cart
    first = services.cart_checkout_claim(session_id=sid, user_id=customer.pk)
    second = services.cart_checkout_claim(session_id=sid, user_id=customer.pk)
    assert (second.won, second.completed, second.order_id) == (False, False, first.order_id)


def test_someone_elses_cart_cannot_be_claimed(
    customer: User, other_customer: User, filled_cart: tuple[str, dict[UUID, int]]
) -> None:
    sid, _ = filled_cart
    services.cart_checkout_claim(session_id=sid, user_id=customer.pk)
    with pytest.raises(CartNotFound):
        services.cart_checkout_claim(session_id=sid, user_id=other_customer.pk)


def test_an_empty_cart_cannot_be_claimed(customer: User) -> None:
    cart = services.cart_create(user_id=customer.pk)
    with pytest.raises(CartEmpty):
        services.cart_checkout_claim(session_id=cart.session_id, user_id=customer.pk)


def test_completing_clears_the_cart_and_a_repeat_finds_the_order(
    filled_cart: tuple[str, dict[UUID, int]], customer: User, raw_redis: redis.Redis
) -> None:
    # given
    sid, _ = filled_cart
    claim = services.cart_checkout_claim(session_id=sid, user_id=customer.pk)
    # when
    services.cart_checkout_complete(session_id=sid, order_id=claim.order_id)
    # then
    assert not raw_redis.exists(f"cart:{sid}")
    repeat = services.cart_checkout_claim(session_id=sid, user_id=customer.pk)
    assert (repeat.won, repeat.completed, repeat.order_id) == (False, True, claim.order_id)
    with pytest.raises(CartCheckedOut) as raised:
        services.cart_get(session_id=sid, user_id=customer.pk)
    assert raised.value.order_id == claim.order_id


def test_completion_waits_for_commit_and_is_dropped_on_rollback(
    filled_cart: tuple[str, dict[UUID, int]],
    customer: User,
    raw_redis: redis.Redis,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    # given
    sid, _ = filled_cart
    claim = services.cart_checkout_claim(session_id=sid, user_id=customer.pk)

    class OrderFailed(Exception):
        pass

    def failing_checkout() -> None:
        with transaction.atomic():
            services.cart_checkout_complete_on_commit(session_id=sid, order_id=claim.order_id)
            raise OrderFailed

    # when the order's transaction rolls back
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(OrderFailed):
            failing_checkout()
        services.cart_checkout_release(session_id=sid, order_id=claim.order_id)
    # then the cart is intact and free again
    assert callbacks == []
    assert raw_redis.hlen(f"cart:{sid}") == 2
    assert services.cart_checkout_claim(session_id=sid, user_id=customer.pk).won


def test_only_the_holder_releases_a_claim(
    filled_cart: tuple[str, dict[UUID, int]], customer: User
) -> None:
    sid, _ = filled_cart
    claim = services.cart_checkout_claim(session_id=sid, user_id=customer.pk)
    assert not services.cart_checkout_release(session_id=sid, order_id=UUID(int=1))
    assert services.cart_checkout_release(session_id=sid, order_id=claim.order_id)
    assert not services.cart_checkout_release(session_id=sid, order_id=claim.order_id)


def test_a_lapsed_claim_frees_the_cart(
    filled_cart: tuple[str, dict[UUID, int]], customer: User, raw_redis: redis.Redis
) -> None:
    sid, _ = filled_cart
    services.cart_checkout_claim(session_id=sid, user_id=customer.pk)
    raw_redis.delete(f"cart:{sid}:checkout")  # what CART_CHECKOUT_CLAIM_TTL does
    assert services.cart_checkout_claim(session_id=sid, user_id=customer.pk).won


def test_twenty_concurrent_claims_one_wins(
    filled_cart: tuple[str, dict[UUID, int]], customer: User
) -> None:
    # given
    sid, lines = filled_cart
    barrier = threading.Barrier(20)
    claims: list[services.CheckoutClaim] = []

    def claim() -> None:
        barrier.wait()
        claims.append(services.cart_checkout_claim(session_id=sid, user_id=customer.pk))

    # when
    threads = [threading.Thread(target=claim) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # then
    winners = [c for c in claims if c.won]
    assert len(claims) == 20
    assert len(winners) == 1
    assert winners[0].lines == lines
    assert {c.order_id for c in claims} == {winners[0].order_id}
