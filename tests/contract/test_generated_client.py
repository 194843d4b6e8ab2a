"""A client generated from the live schema by openapi-python-client runs the whole journey
against the live server and a real Celery worker, with nothing but its own typed models:
register, sign in, fill a cart, check out, wait for PAID, read the events and the history,
have staff ship the order, and read a 409 as the Problem model it is documented as."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from tests.factories import UserFactory
from tests.sagas.worker import CeleryWorker

from .conftest import token_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PACKAGE = "commerce_client"
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "12 St James's Square",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}
PAID_TIMEOUT_SECONDS = 30.0


@pytest.fixture
def generated(live_server: Any, tmp_path: Path) -> Iterator[ModuleType]:
    """The client package, generated from GET /api/schema/ of the live server."""
    with urllib.request.urlopen(f"{live_server.url}/api/schema/?format=json") as answer:
        (tmp_path / "schema.json").write_bytes(answer.read())
    (tmp_path / "config.json").write_text(
        json.dumps({"package_name_override": PACKAGE, "post_hooks": []})
    )
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("openapi-python-client")),
            "generate",
            "--path",
            str(tmp_path / "schema.json"),
            "--config",
            str(tmp_path / "config.json"),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / "client" / PACKAGE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    # openapi-python-client reports what it could not generate as warnings, still exit 0
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(tmp_path / "client"))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path / "client"))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


@pytest.fixture
def worker(celery_worker: CeleryWorker, settings: SettingsWrapper) -> CeleryWorker:
    settings.SAGA_QUEUE = celery_worker.queue
    return celery_worker


def op(name: str) -> Any:
    """An operation module of the generated client, e.g. op("orders.orders_ship_create")."""
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def test_a_generated_client_runs_the_whole_journey(
    generated: ModuleType, live_server: Any, worker: CeleryWorker
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    types = importlib.import_module(f"{PACKAGE}.types")
    client_module = importlib.import_module(f"{PACKAGE}.client")
    anonymous = client_module.Client(base_url=live_server.url, raise_on_unexpected_status=True)

    # the root lists the entry points, to anyone
    root = op("root.api_root").sync(client=anonymous)
    assert isinstance(root, models.ApiRoot)
    assert root.products.startswith(live_server.url)

    # staff (made here: nobody registers as staff) put a product on sale
    staff_user = UserFactory(is_staff=True, is_superuser=True)
    # the generated client's default: Authorization: Bearer <token>
    staff = client_module.AuthenticatedClient(
        base_url=live_server.url, token=token_for(live_server.url, staff_user)
    )
    product = op("products.products_create").sync(
        client=staff,
        body=models.ProductCreateRequest(
            sku=f"LAMP-{uuid.uuid4().hex[:8]}", name="Desk lamp", price="30.00", initial_stock=5
        ),
        idempotency_key=str(uuid.uuid4()),
    )
    assert isinstance(product, models.StaffProduct)
    assert product.available == 5

    # register and sign in
    username = f"ada{uuid.uuid4().hex[:8]}"
    registered = op("auth.auth_register_create").sync(
        client=anonymous,
        body=models.RegisterRequest(
            username=username, email=f"{username}@example.com", password="correct horse 9"
        ),
    )
    assert isinstance(registered, models.Registered)
    issued = op("auth.auth_token_create").sync(
        client=anonymous,
        body=models.TokenRequestRequest(username=username, password="correct horse 9"),
    )
    assert isinstance(issued, models.Token)
    customer = client_module.AuthenticatedClient(base_url=live_server.url, token=issued.token)

    # a cart with two lamps
    cart = op("carts.carts_create").sync(client=customer)
    assert isinstance(cart, models.Cart)
    cart = op("carts.carts_items_create").sync(
        session_id=cart.session_id,
        client=customer,
        body=models.CartItemAddRequest(product_id=product.id, quantity=2),
    )
    assert isinstance(cart, models.Cart)
    assert (cart.item_count, cart.total) == (2, "60.00")

    # check out: 202 with the order, its saga, and a Location
    checkout = op("carts.carts_checkout_create").sync_detailed(
        session_id=cart.session_id,
        client=customer,
        body=models.CheckoutRequest(
            payment_token="tok_ok",
            shipping_address=models.ShippingAddressRequest.from_dict(ADDRESS),
            expected_total="60.00",
        ),
        idempotency_key=str(uuid.uuid4()),
    )
    assert checkout.status_code == 202, checkout.content
    accepted = checkout.parsed
    assert isinstance(accepted, models.CheckoutResult)
    assert checkout.headers["Location"] == accepted.order_url
    order_id = accepted.order_id

    # the worker runs the saga: poll the order until it is PAID
    deadline = time.monotonic() + PAID_TIMEOUT_SECONDS
    order = op("orders.orders_retrieve").sync(order_id=order_id, client=customer)
    while order.status != models.OrderStatusEnum.PAID and time.monotonic() < deadline:
        time.sleep(0.2)
        order = op("orders.orders_retrieve").sync(order_id=order_id, client=customer)
    assert order.status == models.OrderStatusEnum.PAID, worker.log()[-3000:]

    # unchanged since its ETag: 304 and no body
    fresh = op("orders.orders_retrieve").sync_detailed(order_id=order_id, client=customer)
    etag = fresh.headers["ETag"]
    assert etag == f'"{order.version}"'
    unchanged = op("orders.orders_retrieve").sync_detailed(
        order_id=order_id, client=customer, if_none_match=etag
    )
    assert unchanged.status_code == 304
    assert unchanged.parsed is None

    # the customer sees the saga without its data
    saga = op("sagas.sagas_retrieve").sync(saga_id=accepted.saga_id, client=customer)
    assert isinstance(saga, models.SagaDetail)
    assert isinstance(saga.saga_data, types.Unset)

    # events, in version order, and the order as it was at version 1
    events = op("orders.orders_events_list").sync(order_id=order_id, client=customer)
    assert isinstance(events, models.PaginatedOrderEventList)
    assert [e.version for e in events.results] == list(range(1, order.version + 1))
    assert events.results[0].event_type == "OrderCreated"
    first = op("orders.orders_history_retrieve").sync(order_id=order_id, client=customer, version=1)
    assert isinstance(first, models.Order)
    assert (first.version, first.status) == (1, models.OrderStatusEnum.DRAFT)

    # staff ship it
    shipped = op("orders.orders_ship_create").sync(
        order_id=order_id,
        client=staff,
        body=models.ShipRequest(carrier="DHL", tracking_number="JD0001"),
        idempotency_key=str(uuid.uuid4()),
    )
    assert isinstance(shipped, models.Order)
    assert shipped.status == models.OrderStatusEnum.SHIPPED

    # shipping it again conflicts: a 409 parsed as the Problem model
    again = op("orders.orders_ship_create").sync_detailed(
        order_id=order_id,
        client=staff,
        body=models.ShipRequest(carrier="DHL", tracking_number="JD0002"),
    )
    assert again.status_code == 409
    problem = again.parsed
    assert isinstance(problem, models.Problem)
    assert (problem.type_, problem.status) == ("illegal-transition", 409)
    assert problem.current_status == "SHIPPED"
    assert "ship" not in problem.allowed_transitions
    assert again.headers["Content-Type"] == "application/problem+json"
