"""Changing the catalogue and the stock takes model permissions, in the API as in the admin:
being staff is not enough. POST products/ needs inventory.add_product (and
inventory.restock_product for initial stock), PATCH inventory.change_product, restock
inventory.restock_product, the ledger inventory.view_stockmovement; the admin's restock and
adjust-stock actions need inventory.restock_product and inventory.adjust_product_stock."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client

from accounts.models import User
from inventory.models import Product
from tests.commerce_project.test_problems import assert_problem
from tests.conftest import client_for
from tests.factories import staff_with
from tests.inventory.conftest import stock_of
from tests.inventory.factories import ProductFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/products/"
CHANGELIST = "/admin/inventory/product/"


def _call(client: Any, action: str, product: Product) -> Any:
    if action == "create":
        body = {"sku": "NEW-1", "name": "New", "price": "1.00", "initial_stock": 0}
        return client.post(URL, body, format="json")
    if action == "create_with_stock":
        body = {"sku": "NEW-2", "name": "New", "price": "1.00", "initial_stock": 500}
        return client.post(URL, body, format="json")
    if action == "patch":
        return client.patch(f"{URL}{product.id}/", {"price": "0.01"}, format="json")
    if action == "restock":
        return client.post(f"{URL}{product.id}/restock/", {"quantity": 500}, format="json")
    assert action == "movements"
    return client.get(f"{URL}{product.id}/stock-movements/")


@pytest.mark.parametrize(
    ("codenames", "group", "action", "status"),
    [
        ((), None, "create", 403),
        ((), None, "patch", 403),
        ((), None, "restock", 403),
        ((), None, "movements", 403),
        ((), "support", "patch", 403),
        (("view_product",), None, "patch", 403),
        (("change_product",), None, "restock", 403),
        (("restock_product",), None, "patch", 403),
        (("add_product",), None, "create", 201),
        (("add_product",), None, "create_with_stock", 403),
        (("add_product", "restock_product"), None, "create_with_stock", 201),
        (("change_product",), None, "patch", 200),
        (("restock_product",), None, "restock", 200),
        (("view_stockmovement",), None, "movements", 200),
    ],
)
def test_catalogue_and_stock_writes_need_their_model_permission(
    codenames: tuple[str, ...], group: str | None, action: str, status: int
) -> None:
    # given
    product = ProductFactory(stock=3, price=Decimal("9.99"))
    client = client_for(
        staff_with(*(f"inventory.{c}" for c in codenames), groups=(group,) if group else ())
    )
    # when
    response = _call(client, action, product)
    # then
    if status == 403:
        assert_problem(response, 403, "forbidden")
        product.refresh_from_db()
        assert product.price == Decimal("9.99")
        assert stock_of(product.id) == (3, 0)
        assert not Product.objects.filter(sku__startswith="NEW-").exists()
    else:
        assert response.status_code == status, response.content


def _admin_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("action", "form"),
    [
        ("restock", {"quantity": "500", "reason": "PO"}),
        ("adjust_stock", {"delta": "500", "reason": "count"}),
    ],
)
def test_a_view_only_user_cannot_run_the_stock_actions(action: str, form: dict[str, str]) -> None:
    # given staff who may look at products and nothing else
    product = ProductFactory(stock=3)
    client = _admin_client(staff_with("inventory.view_product"))
    selected = {"action": action, ACTION_CHECKBOX_NAME: [str(product.id)], "apply": "1", **form}
    # when
    listing = client.get(CHANGELIST)
    client.post(CHANGELIST, selected, follow=True)
    # then
    assert listing.status_code == 200
    assert f'value="{action}"' not in listing.content.decode()
    assert stock_of(product.id) == (3, 0)


@pytest.mark.parametrize(
    ("action", "codename", "form", "after"),
    [
        ("restock", "restock_product", {"quantity": "5", "reason": "PO"}, (8, 0)),
        ("adjust_stock", "adjust_product_stock", {"delta": "-1", "reason": "damaged"}, (2, 0)),
    ],
)
def test_the_stock_actions_run_with_their_permission(
    action: str, codename: str, form: dict[str, str], after: tuple[int, int]
) -> None:
    product = ProductFactory(stock=3)
    client = _admin_client(staff_with("inventory.view_product", f"inventory.{codename}"))
    selected = {"action": action, ACTION_CHECKBOX_NAME: [str(product.id)], "apply": "1", **form}
    response = client.post(CHANGELIST, selected)
    assert response.status_code == 302
    assert stock_of(product.id) == after


def test_restock_alone_does_not_allow_adjusting() -> None:
    product = ProductFactory(stock=3)
    client = _admin_client(staff_with("inventory.view_product", "inventory.restock_product"))
    selected = {
        "action": "adjust_stock",
        ACTION_CHECKBOX_NAME: [str(product.id)],
        "apply": "1",
        "delta": "-3",
        "reason": "count",
    }
    client.post(CHANGELIST, selected, follow=True)
    assert stock_of(product.id) == (3, 0)
