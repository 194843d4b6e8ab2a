"""The admin shows stock and changes it only through the services."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client

from accounts.models import User
from inventory import services
from inventory.models import Product, StockMovement
from tests.inventory.conftest import stock_of
from tests.inventory.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def test_product_list_and_page_show_the_stock(admin_client: Client) -> None:
    mug = ProductFactory(stock=7, name="Enamel mug")
    listing = admin_client.get("/admin/inventory/product/")
    page = admin_client.get(f"/admin/inventory/product/{mug.id}/change/")
    assert listing.status_code == page.status_code == 200
    assert "Enamel mug" in listing.content.decode()
    assert "available" in page.content.decode()


def test_restock_action_asks_for_a_quantity_then_restocks(
    admin_client: Client, staff: User
) -> None:
    # given
    mug, pen = ProductFactory(stock=1), ProductFactory(stock=2)
    selected = {"action": "restock", ACTION_CHECKBOX_NAME: [str(mug.id), str(pen.id)]}
    # when
    form = admin_client.post("/admin/inventory/product/", selected)
    done = admin_client.post(
        "/admin/inventory/product/", {**selected, "apply": "1", "quantity": "5", "reason": "PO"}
    )
    # then
    assert form.status_code == 200
    assert "quantity" in form.content.decode()
    assert done.status_code == 302
    assert stock_of(mug.id) == (6, 0)
    assert stock_of(pen.id) == (7, 0)
    assert StockMovement.objects.filter(reason="PO", actor=staff.username).count() == 2


def test_adding_a_product_in_the_admin_gives_it_a_stock_row(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/inventory/product/add/",
        {
            "sku": "NEW-1",
            "name": "New",
            "description": "",
            "price": "3.00",
            "currency": "EUR",
            "active": "on",
            "stock-TOTAL_FORMS": "0",
            "stock-INITIAL_FORMS": "0",
            "stock-MIN_NUM_FORMS": "0",
            "stock-MAX_NUM_FORMS": "1",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert stock_of(Product.objects.get(sku="NEW-1").id) == (0, 0)


def test_ledger_and_reservations_are_read_only_and_filterable(admin_client: Client) -> None:
    mug = ProductFactory(stock=3)
    services.stock_reserve(order_id=uuid.uuid4(), lines=[(mug.id, 1)])
    movements = admin_client.get("/admin/inventory/stockmovement/")
    active = admin_client.get("/admin/inventory/reservation/", {"status__exact": "ACTIVE"})
    assert movements.status_code == active.status_code == 200
    assert str(mug.sku) in active.content.decode()
    assert admin_client.get("/admin/inventory/stockmovement/add/").status_code == 403
