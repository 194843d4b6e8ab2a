"""The cart over HTTP: lines, validation, limits, TTL, ownership, Redis outages."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from inventory import services as inventory
from tests.carts.conftest import CARTS, create_cart, items_url
from tests.commerce_project.test_problems import assert_problem
from tests.inventory.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_anyone_can_create_a_cart_with_an_unguessable_id(api_client: APIClient) -> None:
    # when
    first, second = api_client.post(CARTS), api_client.post(CARTS)
    # then
    assert first.status_code == 201
    body = first.json()
    assert len(body["session_id"]) == 43
    assert body["session_id"] != second.json()["session_id"]
    assert body["owner_id"] is None
    assert (body["lines"], body["total"], body["item_count"]) == ([], "0.00", 0)
    assert first["Location"].endswith(f"/api/v1/carts/{body['session_id']}/")


def test_a_signed_in_customer_owns_the_cart_they_create(
    customer_client: APIClient, customer: object
) -> None:
    body = customer_client.post(CARTS).json()
    assert body["owner_id"] == str(customer.pk)  # type: ignore[attr-defined]


def test_the_cart_shows_each_line_priced_with_availability(api_client: APIClient) -> None:
    # given
    mug = ProductFactory(name="Enamel mug", price=Decimal("12.50"), stock=10)
    pen = ProductFactory(name="Brass pen", price=Decimal("34.00"), stock=3)
    sid = create_cart(api_client)
    # when
    api_client.post(items_url(sid), {"product_id": str(mug.id), "quantity": 2}, format="json")
    response = api_client.post(
        items_url(sid), {"product_id": str(pen.id), "quantity": 1}, format="json"
    )
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["lines"] == [
        {
            "product_id": str(pen.id),
            "sku": pen.sku,
            "name": "Brass pen",
            "unit_price": "34.00",
            "currency": "EUR",
            "quantity": 1,
            "line_total": "34.00",
            "available": 3,
            "active": True,
        },
        {
            "product_id": str(mug.id),
            "sku": mug.sku,
            "name": "Enamel mug",
            "unit_price": "12.50",
            "currency": "EUR",
            "quantity": 2,
            "line_total": "25.00",
            "available": 10,
            "active": True,
        },
    ]
    assert (body["total"], body["currency"], body["item_count"]) == ("59.00", "EUR", 3)
    fetched = api_client.get(f"{CARTS}{sid}/").json()
    assert fetched.pop("expires_at")
    assert body.pop("expires_at")
    assert fetched == body


def test_adding_increments_and_put_sets_or_removes(api_client: APIClient) -> None:
    # given
    mug = ProductFactory(stock=50)
    sid = create_cart(api_client)
    add = {"product_id": str(mug.id), "quantity": 2}
    # when / then
    api_client.post(items_url(sid), add, format="json")
    body = api_client.post(items_url(sid), add, format="json").json()
    assert body["lines"][0]["quantity"] == 4
    body = api_client.put(items_url(sid, mug.id), {"quantity": 7}, format="json").json()
    assert body["lines"][0]["quantity"] == 7
    body = api_client.put(items_url(sid, mug.id), {"quantity": 0}, format="json").json()
    assert body["lines"] == []


def test_delete_a_line_and_the_cart(api_client: APIClient) -> None:
    # given
    mug, pen = ProductFactory(stock=5), ProductFactory(stock=5)
    sid = create_cart(api_client)
    for product in (mug, pen):
        api_client.post(items_url(sid), {"product_id": str(product.id), "quantity": 1})
    # when
    body = api_client.delete(items_url(sid, mug.id)).json()
    again = api_client.delete(items_url(sid, mug.id))
    # then
    assert [line["product_id"] for line in body["lines"]] == [str(pen.id)]
    assert again.status_code == 200
    assert api_client.delete(f"{CARTS}{sid}/").status_code == 204
    assert_problem(api_client.get(f"{CARTS}{sid}/"), 404, "not-found")


def test_a_line_of_a_withdrawn_product_stays_visible_but_is_not_counted(
    api_client: APIClient,
) -> None:
    # given
    mug, pen = ProductFactory(stock=5), ProductFactory(stock=5, price=Decimal("3.00"))
    sid = create_cart(api_client)
    for product in (mug, pen):
        api_client.post(items_url(sid), {"product_id": str(product.id), "quantity": 1})
    # when
    inventory.product_update(product_id=mug.id, active=False)
    body = api_client.get(f"{CARTS}{sid}/").json()
    # then
    assert {line["product_id"]: line["active"] for line in body["lines"]} == {
        str(mug.id): False,
        str(pen.id): True,
    }
    assert (body["total"], body["item_count"]) == ("3.00", 1)
    # and it can still be removed
    assert api_client.put(items_url(sid, mug.id), {"quantity": 0}).status_code == 200


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"quantity": 1}, "product_id"),
        ({"product_id": "not-a-uuid", "quantity": 1}, "product_id"),
        ({"product_id": "UNKNOWN", "quantity": 1}, "product_id"),
        ({"product_id": "INACTIVE", "quantity": 1}, "product_id"),
        ({"product_id": "MUG", "quantity": 0}, "quantity"),
        ({"product_id": "MUG", "quantity": 100}, "quantity"),
        ({"product_id": "MUG", "quantity": -1}, "quantity"),
        ({"product_id": "MUG", "quantity": "two"}, "quantity"),
        ({"product_id": "MUG"}, "quantity"),
    ],
)
def test_adding_validates_product_and_quantity(
    api_client: APIClient, payload: dict[str, object], field: str
) -> None:
    # given
    names = {
        "MUG": str(ProductFactory(stock=500).id),
        "INACTIVE": str(ProductFactory(stock=5, active=False).id),
        "UNKNOWN": str(uuid.uuid4()),
    }
    sid = create_cart(api_client)
    if "product_id" in payload:
        payload = payload | {"product_id": names.get(str(payload["product_id"]), "not-a-uuid")}
    # when
    response = api_client.post(items_url(sid), payload, format="json")
    # then
    body = assert_problem(response, 400, "invalid-input")
    assert set(body["errors"]) == {field}  # type: ignore[arg-type]


@pytest.mark.parametrize("quantity", [-1, 100, "x"])
def test_setting_validates_the_quantity(api_client: APIClient, quantity: object) -> None:
    mug = ProductFactory(stock=500)
    sid = create_cart(api_client)
    response = api_client.put(items_url(sid, mug.id), {"quantity": quantity}, format="json")
    body = assert_problem(response, 400, "invalid-input")
    assert set(body["errors"]) == {"quantity"}  # type: ignore[arg-type]


def test_setting_an_unknown_product_names_the_product(api_client: APIClient) -> None:
    sid = create_cart(api_client)
    response = api_client.put(items_url(sid, uuid.uuid4()), {"quantity": 1}, format="json")
    body = assert_problem(response, 400, "invalid-input")
    assert set(body["errors"]) == {"product_id"}  # type: ignore[arg-type]


def test_a_line_never_exceeds_ninety_nine(api_client: APIClient) -> None:
    # given
    mug = ProductFactory(stock=500)
    sid = create_cart(api_client)
    api_client.post(items_url(sid), {"product_id": str(mug.id), "quantity": 60})
    # when
    response = api_client.post(items_url(sid), {"product_id": str(mug.id), "quantity": 40})
    # then
    body = assert_problem(response, 400, "invalid-input")
    assert set(body["errors"]) == {"quantity"}  # type: ignore[arg-type]
    assert api_client.get(f"{CARTS}{sid}/").json()["lines"][0]["quantity"] == 60


def test_a_cart_holds_at_most_fifty_different_products(api_client: APIClient) -> None:
    # given a cart with fifty lines
    products = [ProductFactory(stock=5) for _ in range(51)]
    sid = create_cart(api_client)
    for product in products[:50]:
        response = api_client.post(items_url(sid), {"product_id": str(product.id), "quantity": 1})
        assert response.status_code == 200
    # when
    response = api_client.post(items_url(sid), {"product_id": str(products[50].id), "quantity": 1})
    more_of_one = api_client.post(
        items_url(sid), {"product_id": str(products[0].id), "quantity": 1}
    )
    # then a new line is refused, an existing one may still grow
    body = assert_problem(response, 400, "invalid-input")
    assert set(body["errors"]) == {"product_id"}  # type: ignore[arg-type]
    assert more_of_one.status_code == 200
    assert len(more_of_one.json()["lines"]) == 50


def test_asking_for_more_than_is_available_is_out_of_stock(api_client: APIClient) -> None:
    # given three units, one of them reserved by an order
    mug = ProductFactory(stock=3)
    inventory.stock_reserve(order_id=uuid.uuid4(), lines=[(mug.id, 1)])
    sid = create_cart(api_client)
    api_client.post(items_url(sid), {"product_id": str(mug.id), "quantity": 1})
    # when
    add = api_client.post(items_url(sid), {"product_id": str(mug.id), "quantity": 2})
    put = api_client.put(items_url(sid, mug.id), {"quantity": 5}, format="json")
    # then
    body = assert_problem(add, 409, "out-of-stock")
    assert (body["available"], body["lines"]) == (  # type: ignore[comparator-overlap]
        2,
        [{"product_id": str(mug.id), "requested": 3, "available": 2}],
    )
    assert assert_problem(put, 409, "out-of-stock")["available"] == 2
    assert api_client.get(f"{CARTS}{sid}/").json()["lines"][0]["quantity"] == 1


def test_every_write_refreshes_the_ttl(api_client: APIClient, raw_redis: redis.Redis) -> None:
    # given a cart that has been idle a long time
    mug = ProductFactory(stock=5)
    sid = create_cart(api_client)
    api_client.post(items_url(sid), {"product_id": str(mug.id), "quantity": 1})
    full = int(settings.CART_TTL.total_seconds())
    for key in (f"cart:{sid}", f"cart:{sid}:meta"):
        assert full - 5 <= raw_redis.ttl(key) <= full
        raw_redis.expire(key, 60)
    # when
    api_client.put(items_url(sid, mug.id), {"quantity": 2}, format="json")
    # then
    assert all(full - 5 <= raw_redis.ttl(k) <= full for k in (f"cart:{sid}", f"cart:{sid}:meta"))


def test_an_expired_cart_is_gone(api_client: APIClient, raw_redis: redis.Redis) -> None:
    sid = create_cart(api_client)
    raw_redis.delete(f"cart:{sid}:meta")  # what the TTL does
    assert_problem(api_client.get(f"{CARTS}{sid}/"), 404, "not-found")


def test_an_unknown_or_malformed_session_id_is_not_found(api_client: APIClient) -> None:
    assert_problem(api_client.get(f"{CARTS}{'x' * 43}/"), 404, "not-found")
    assert_problem(api_client.get(f"{CARTS}short/"), 404, "not-found")


def test_a_customers_cart_is_invisible_to_everyone_else(
    customer_client: APIClient,
    other_customer_client: APIClient,
    api_client: APIClient,
    staff_client: APIClient,
) -> None:
    # given
    mug = ProductFactory(stock=5)
    sid = create_cart(customer_client)
    add = {"product_id": str(mug.id), "quantity": 1}
    # when / then: the owner may do everything
    assert customer_client.post(items_url(sid), add).status_code == 200
    # anyone else gets the 404 of a cart that does not exist
    for intruder in (other_customer_client, api_client):
        assert_problem(intruder.get(f"{CARTS}{sid}/"), 404, "not-found")
        assert_problem(intruder.post(items_url(sid), add), 404, "not-found")
        assert_problem(intruder.put(items_url(sid, mug.id), {"quantity": 3}), 404, "not-found")
        assert_problem(intruder.delete(items_url(sid, mug.id)), 404, "not-found")
        assert_problem(intruder.delete(f"{CARTS}{sid}/"), 404, "not-found")
    # staff may look, and the cart is untouched
    assert staff_client.get(f"{CARTS}{sid}/").json()["lines"][0]["quantity"] == 1


def test_an_anonymous_cart_is_usable_by_whoever_holds_the_id(
    api_client: APIClient, customer_client: APIClient
) -> None:
    mug = ProductFactory(stock=5)
    sid = create_cart(api_client)
    add = {"product_id": str(mug.id), "quantity": 1}
    assert api_client.post(items_url(sid), add).status_code == 200
    assert customer_client.post(items_url(sid), add).status_code == 200
    body = api_client.get(f"{CARTS}{sid}/").json()
    assert (body["owner_id"], body["lines"][0]["quantity"]) == (None, 2)


def test_adding_with_an_idempotency_key_adds_once(api_client: APIClient) -> None:
    mug = ProductFactory(stock=5)
    sid = create_cart(api_client)
    add = {"product_id": str(mug.id), "quantity": 2}
    for _ in range(2):
        response = api_client.post(items_url(sid), add, format="json", HTTP_IDEMPOTENCY_KEY="a1")
        assert response.status_code == 200
    assert api_client.get(f"{CARTS}{sid}/").json()["lines"][0]["quantity"] == 2


def test_redis_down_answers_503_and_the_catalogue_keeps_working(
    api_client: APIClient, closed_redis_url: str, settings: object
) -> None:
    # given
    mug = ProductFactory(stock=4)
    sid = create_cart(api_client)
    settings.REDIS_URL = closed_redis_url  # type: ignore[attr-defined]
    add = {"product_id": str(mug.id), "quantity": 1}
    # when / then every cart endpoint says so clearly
    for response in (
        api_client.post(CARTS),
        api_client.get(f"{CARTS}{sid}/"),
        api_client.post(items_url(sid), add),
        api_client.put(items_url(sid, mug.id), {"quantity": 1}),
        api_client.delete(items_url(sid, mug.id)),
        api_client.delete(f"{CARTS}{sid}/"),
    ):
        body = assert_problem(response, 503, "service-unavailable")
        assert "cart store" in str(body["detail"])
        assert response["Retry-After"]
    # and the catalogue answers from the database
    catalogue = api_client.get("/api/v1/products/")
    assert catalogue.status_code == 200
    assert catalogue.json()["results"][0]["available"] == 4


def test_the_cart_body_matches_its_documented_serializer(api_client: APIClient) -> None:
    # given
    mug = ProductFactory(stock=5)
    sid = create_cart(api_client)
    body = api_client.post(items_url(sid), {"product_id": str(mug.id), "quantity": 2}).json()
    # when the hand-built body is read back through the schema's serializer
    from carts.api.serializers import CartSerializer

    serializer = CartSerializer(data=body)
    # then it validates and renders to the same document
    assert serializer.is_valid(), serializer.errors
    assert CartSerializer(serializer.validated_data).data == body
