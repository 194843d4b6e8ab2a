"""A cart write checks the product against the catalogue cache inside its own script, and
looks the product up only when the cache lacks it: both ways must answer alike."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from inventory import services as inventory
from inventory.models import Product
from inventory.stock_cache import (
    product_cache_key,
    redis_client,
    stock_cache_forget,
    stock_cache_key,
)
from tests.carts.conftest import CARTS, create_cart, items_url
from tests.commerce_project.test_problems import assert_problem
from tests.inventory.factories import ProductFactory

pytestmark = pytest.mark.django_db

MakeProduct = Callable[..., Product]


@pytest.fixture(params=["cached", "not cached"])
def make_product(request: pytest.FixtureRequest, django_capture_on_commit_callbacks: Any) -> Any:
    """Products whose after-commit cache writes run ("cached") or never do."""
    cached = request.param == "cached"

    def make(**fields: Any) -> Product:
        with django_capture_on_commit_callbacks(execute=cached):
            product = ProductFactory(**fields)
        assert bool(redis_client().exists(product_cache_key(product.id))) == cached
        return product

    return make


def test_adding_within_the_availability_adds(
    api_client: APIClient, make_product: MakeProduct
) -> None:
    mug = make_product(stock=3)
    sid = create_cart(api_client)
    response = api_client.post(items_url(sid), {"product_id": str(mug.id), "quantity": 3})
    assert response.status_code == 200
    assert [(line["product_id"], line["quantity"]) for line in response.json()["lines"]] == [
        (str(mug.id), 3)
    ]


def test_adding_beyond_the_availability_is_out_of_stock(
    api_client: APIClient, make_product: MakeProduct, django_capture_on_commit_callbacks: Any
) -> None:
    # given three units, one of them reserved by an order
    mug = make_product(stock=3)
    with django_capture_on_commit_callbacks(execute=True):
        inventory.stock_reserve(order_id=uuid.uuid4(), lines=[(mug.id, 1)])
    sid = create_cart(api_client)
    api_client.post(items_url(sid), {"product_id": str(mug.id), "quantity": 1})
    # when
    response = api_client.post(items_url(sid), {"product_id": str(mug.id), "quantity": 2})
    # then
    body = assert_problem(response, 409, "out-of-stock")
    assert body["lines"] == [{"product_id": str(mug.id), "requested": 3, "available": 2}]
    assert api_client.get(f"{CARTS}{sid}/").json()["lines"][0]["quantity"] == 1


def test_a_product_not_for_sale_is_refused_before_the_cart_is_looked_at(
    api_client: APIClient, make_product: MakeProduct
) -> None:
    withdrawn = make_product(stock=5, active=False)
    add = {"product_id": str(withdrawn.id), "quantity": 1}
    for sid in (create_cart(api_client), secrets.token_urlsafe(32)):
        body = assert_problem(api_client.post(items_url(sid), add), 400, "invalid-input")
        assert body["errors"] == {"product_id": ["This product is not for sale."]}


def test_a_product_in_another_currency_is_refused(
    api_client: APIClient, make_product: MakeProduct
) -> None:
    mug, dollar_mug = make_product(stock=5), make_product(stock=5, currency="USD")
    sid = create_cart(api_client)
    api_client.post(items_url(sid), {"product_id": str(mug.id), "quantity": 1})
    response = api_client.post(items_url(sid), {"product_id": str(dollar_mug.id), "quantity": 1})
    body = assert_problem(response, 400, "invalid-input")
    assert set(body["errors"]) == {"product_id"}  # type: ignore[arg-type]


def test_a_product_missing_from_the_cache_is_looked_up_and_cached(
    api_client: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    # given a product the cache has forgotten
    with django_capture_on_commit_callbacks(execute=True):
        mug = ProductFactory(stock=4)
    stock_cache_forget([mug.id])
    sid = create_cart(api_client)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(items_url(sid), {"product_id": str(mug.id), "quantity": 4})
    # then
    assert response.status_code == 200
    assert response.json()["lines"][0]["available"] == 4
    assert redis_client().get(stock_cache_key(mug.id)) == "4"
    assert redis_client().exists(product_cache_key(mug.id))
