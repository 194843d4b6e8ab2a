"""GET/POST/PATCH products, restock and stock movements over HTTP."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from inventory import services
from inventory.models import Product, StockItem, StockMovement
from inventory.stock_cache import StockLevel, stock_cache_write
from tests.commerce_project.test_problems import assert_problem
from tests.conftest import instances_built
from tests.inventory.factories import ProductFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/products/"


def test_anyone_can_browse_the_catalogue_with_availability(api_client: APIClient) -> None:
    # given
    mug = ProductFactory(name="Enamel mug", price=Decimal("12.50"), stock=10)
    ProductFactory(name="Withdrawn", active=False, stock=3)
    services.stock_reserve(order_id=uuid.uuid4(), lines=[(mug.id, 4)])
    # when
    response = api_client.get(URL)
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [item] = body["results"]
    assert item == {
        "id": str(mug.id),
        "sku": mug.sku,
        "name": "Enamel mug",
        "description": mug.description,
        "price": "12.50",
        "currency": "EUR",
        "active": True,
        "available": 6,
    }


def test_search_matches_name_or_sku(api_client: APIClient) -> None:
    ProductFactory(name="Enamel mug", sku="MUG-1")
    ProductFactory(name="Brass pen", sku="PEN-1")
    ProductFactory(name="Travel kit", sku="KIT-MUG")
    names = [p["name"] for p in api_client.get(URL, {"search": "mug"}).json()["results"]]
    assert names == ["Enamel mug", "Travel kit"]


def test_in_stock_filter_hides_sold_out_products(api_client: APIClient) -> None:
    # given
    ProductFactory(name="Plenty", stock=5)
    ProductFactory(name="Never stocked")
    reserved = ProductFactory(name="All reserved", stock=2)
    services.stock_reserve(order_id=uuid.uuid4(), lines=[(reserved.id, 2)])
    # when
    in_stock = api_client.get(URL, {"in_stock": "true"}).json()["results"]
    sold_out = api_client.get(URL, {"in_stock": "false"}).json()["results"]
    # then
    assert [p["name"] for p in in_stock] == ["Plenty"]
    assert sorted(p["name"] for p in sold_out) == ["All reserved", "Never stocked"]


def test_ordering_and_pagination(api_client: APIClient) -> None:
    for price in ("3.00", "1.00", "2.00"):
        ProductFactory(price=Decimal(price))
    response = api_client.get(URL, {"ordering": "-price", "page_size": 2})
    body = response.json()
    assert [p["price"] for p in body["results"]] == ["3.00", "2.00"]
    assert body["count"] == 3
    assert body["next"]


def test_product_detail(api_client: APIClient) -> None:
    mug = ProductFactory(stock=3)
    response = api_client.get(f"{URL}{mug.id}/")
    assert response.status_code == 200
    assert response.json()["available"] == 3


@pytest.mark.parametrize("path", [f"{uuid.uuid4()}/", "not-a-uuid/"])
def test_unknown_product_is_not_found(api_client: APIClient, path: str) -> None:
    assert_problem(api_client.get(f"{URL}{path}"), 404, "not-found")


# Strings the URL pattern accepts that are not UUIDs (found by schemathesis as 500s).
MALFORMED_IDS = ["-" * 36, "a" * 33, "0" * 8 + "-" * 28]


@pytest.mark.parametrize("malformed", MALFORMED_IDS)
def test_a_malformed_product_id_is_not_found_on_every_product_route(
    staff_client: APIClient, malformed: str
) -> None:
    # given: a staff user, who may use every route
    item = f"{URL}{malformed}/"
    # when / then
    assert_problem(staff_client.get(item), 404, "not-found")
    assert_problem(staff_client.patch(item, {"name": "x"}, format="json"), 404, "not-found")
    restock = staff_client.post(f"{item}restock/", {"quantity": 1, "reason": "x"}, format="json")
    assert_problem(restock, 404, "not-found")
    assert_problem(staff_client.get(f"{item}stock-movements/"), 404, "not-found")


def test_inactive_products_are_hidden_from_customers_but_not_staff(
    customer_client: APIClient, staff_client: APIClient
) -> None:
    hidden = ProductFactory(active=False)
    assert_problem(customer_client.get(f"{URL}{hidden.id}/"), 404, "not-found")
    response = staff_client.get(f"{URL}{hidden.id}/")
    assert response.status_code == 200
    assert response.json()["active"] is False
    assert staff_client.get(URL, {"active": "false"}).json()["count"] == 1


def test_staff_create_a_product_with_initial_stock(staff_client: APIClient, staff: User) -> None:
    # when
    response = staff_client.post(
        URL,
        {"sku": "LAMP-1", "name": "Desk lamp", "price": "79.00", "initial_stock": 5},
        format="json",
    )
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["price"] == "79.00"
    assert body["currency"] == "EUR"
    assert (body["on_hand"], body["reserved"], body["available"]) == (5, 0, 5)
    assert response["Location"].endswith(f"/api/v1/products/{body['id']}/")
    movement = StockMovement.objects.get(product_id=body["id"])
    assert (movement.kind, movement.on_hand_delta, movement.actor) == (
        "RESTOCK",
        5,
        staff.username,
    )


def test_create_is_idempotent_with_a_key(staff_client: APIClient) -> None:
    payload = {"sku": "LAMP-1", "name": "Desk lamp", "price": "79.00"}
    first = staff_client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    second = staff_client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    # The replay's Content-Type comes from the shared idempotency plumbing; read the body.
    assert json.loads(second.content)["id"] == first.json()["id"]
    assert Product.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"sku", "name", "price"}),
        ({"sku": "bad sku!", "name": "x", "price": "1.00"}, {"sku"}),
        ({"sku": "A-1", "name": "x", "price": "-1.00"}, {"price"}),
        ({"sku": "A-1", "name": "x", "price": "1.001"}, {"price"}),
        ({"sku": "A-1", "name": "x", "price": "1.00", "currency": "eur"}, {"currency"}),
        ({"sku": "A-1", "name": "x", "price": "1.00", "initial_stock": -1}, {"initial_stock"}),
    ],
)
def test_create_validation_names_the_fields(
    staff_client: APIClient, payload: dict[str, object], fields: set[str]
) -> None:
    body = assert_problem(staff_client.post(URL, payload, format="json"), 400, "invalid-input")
    assert set(body["errors"]) == fields  # type: ignore[arg-type]


def test_a_duplicate_sku_is_invalid(staff_client: APIClient) -> None:
    ProductFactory(sku="MUG-1")
    response = staff_client.post(URL, {"sku": "MUG-1", "name": "x", "price": "1"}, format="json")
    body = assert_problem(response, 400, "invalid-input")
    assert set(body["errors"]) == {"sku"}  # type: ignore[arg-type]


def test_customers_may_not_use_staff_endpoints(customer_client: APIClient) -> None:
    mug = ProductFactory(stock=1)
    assert_problem(customer_client.post(URL, {}, format="json"), 403, "forbidden")
    assert_problem(customer_client.patch(f"{URL}{mug.id}/", {}), 403, "forbidden")
    assert_problem(
        customer_client.post(f"{URL}{mug.id}/restock/", {"quantity": 1}), 403, "forbidden"
    )
    assert_problem(customer_client.get(f"{URL}{mug.id}/stock-movements/"), 403, "forbidden")


def test_anonymous_staff_calls_must_authenticate(api_client: APIClient) -> None:
    assert_problem(api_client.post(URL, {}, format="json"), 401, "not-authenticated")


def test_staff_change_name_price_and_active(staff_client: APIClient) -> None:
    # given
    mug = ProductFactory(stock=1)
    # when
    response = staff_client.patch(
        f"{URL}{mug.id}/", {"name": "Big mug", "price": "14.00", "active": False}, format="json"
    )
    # then
    assert response.status_code == 200, response.content
    mug.refresh_from_db()
    assert (mug.name, mug.price, mug.active) == ("Big mug", Decimal("14.00"), False)


def test_the_sku_and_stock_cannot_be_patched(staff_client: APIClient) -> None:
    mug = ProductFactory(stock=1)
    response = staff_client.patch(f"{URL}{mug.id}/", {"sku": "NEW", "on_hand": 9}, format="json")
    body = assert_problem(response, 400, "invalid-input")
    assert set(body["errors"]) == {"sku", "on_hand"}  # type: ignore[arg-type]


def test_staff_restock_and_read_the_movements(staff_client: APIClient) -> None:
    # given
    mug = ProductFactory(stock=2)
    # when
    response = staff_client.post(
        f"{URL}{mug.id}/restock/", {"quantity": 8, "reason": "PO-42"}, format="json"
    )
    movements = staff_client.get(f"{URL}{mug.id}/stock-movements/")
    # then
    assert response.status_code == 200, response.content
    assert (response.json()["on_hand"], response.json()["available"]) == (10, 10)
    assert movements.status_code == 200
    rows = movements.json()["results"]
    assert [(m["kind"], m["on_hand_delta"], m["reason"]) for m in rows] == [
        ("RESTOCK", 8, "PO-42"),
        ("RESTOCK", 2, "test stock"),
    ]


def _cache_says(product: Product, available: int) -> None:
    """The stock cache as a committed earlier change left it."""
    item = StockItem.objects.get(pk=product.pk)
    stock_cache_write([StockLevel(product.id, available, item.version)])


def test_a_restock_under_an_idempotency_key_answers_and_replays_the_new_availability(
    staff_client: APIClient,
) -> None:
    # given 60 units, and the cache saying so
    mug = ProductFactory(stock=60)
    _cache_says(mug, 60)
    url = f"{URL}{mug.id}/restock/"
    # when 5 more arrive, under a key (the view then runs inside the key's transaction,
    # before the after-commit cache write)
    first = staff_client.post(url, {"quantity": 5}, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    replay = staff_client.post(url, {"quantity": 5}, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    # then both answers agree with the row just written
    assert first.status_code == replay.status_code == 200, first.content
    body = first.json()
    assert (body["on_hand"], body["reserved"], body["available"]) == (65, 0, 65)
    assert replay["Idempotent-Replayed"] == "true"
    assert json.loads(replay.content)["available"] == 65


def test_a_patch_answers_the_availability_of_the_database_row(staff_client: APIClient) -> None:
    # given a cache that has not caught up with the row (its after-commit write is pending
    # or was lost)
    mug = ProductFactory(stock=8)
    services.stock_reserve(order_id=uuid.uuid4(), lines=[(mug.id, 3)])
    _cache_says(mug, 8)
    # when
    response = staff_client.patch(f"{URL}{mug.id}/", {"name": "Big mug"}, format="json")
    # then
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["on_hand"], body["reserved"], body["available"]) == (8, 3, 5)


def test_a_create_under_an_idempotency_key_answers_the_initial_availability(
    staff_client: APIClient,
) -> None:
    payload = {"sku": "LAMP-1", "name": "Desk lamp", "price": "79.00", "initial_stock": 4}
    response = staff_client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    assert response.status_code == 201, response.content
    assert (response.json()["on_hand"], response.json()["available"]) == (4, 4)


@pytest.mark.parametrize("quantity", [0, -5, "many", None])
def test_restock_validation(staff_client: APIClient, quantity: object) -> None:
    mug = ProductFactory(stock=2)
    response = staff_client.post(f"{URL}{mug.id}/restock/", {"quantity": quantity}, format="json")
    body = assert_problem(response, 400, "invalid-input")
    assert set(body["errors"]) == {"quantity"}  # type: ignore[arg-type]


def test_catalogue_keeps_working_when_redis_is_down(
    api_client: APIClient, closed_redis_url: str, settings: object
) -> None:
    # given
    ProductFactory(stock=4)
    settings.REDIS_URL = closed_redis_url  # type: ignore[attr-defined]
    # when
    response = api_client.get(URL)
    # then
    assert response.status_code == 200
    assert response.json()["results"][0]["available"] == 4


@pytest.mark.parametrize("price", ["0", "0.10", "9.99", "1234567890.50", "12.5"])
def test_fast_product_representation_matches_the_declared_fields(price: str) -> None:
    from inventory.api.serializers import ProductSerializer, StaffProductSerializer

    saved = ProductFactory(price=Decimal(price), description="Grüße 🛒", active=False)
    for product in (saved, Product.objects.select_related("stock").get(pk=saved.pk)):
        serializer = ProductSerializer(context={"availability": {product.id: 7}})
        fast = serializer.to_representation(product)
        assert fast == serializer.generic_representation(product)
        assert (fast["available"], fast["price"]) == (7, f"{Decimal(price):.2f}")
    staff = StaffProductSerializer(context={"availability": {}})
    assert staff.to_representation(product) == staff.generic_representation(product)
    assert "on_hand" in staff.to_representation(product)


def test_the_public_list_pages_rows_as_the_declared_fields_render_them(
    api_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inventory.api.serializers import ProductSerializer

    # given
    products = [ProductFactory(price=Decimal(p), stock=n) for n, p in enumerate(["1", "2.5"])]
    built = instances_built(monkeypatch, Product)
    # when
    response = api_client.get(URL, {"ordering": "price"})
    # then: the page is read as rows, no Product is built, and each one renders as DRF would
    assert response.status_code == 200
    assert built == []
    monkeypatch.undo()
    expected = [
        ProductSerializer(context={"availability": {p.id: n}}).generic_representation(p)
        for n, p in enumerate(products)
    ]
    assert response.json()["results"] == expected
    assert response.json()["count"] == 2
