"""Who may do what to an order, over HTTP: one row per (role, permission set, order state,
command). The handler decides from the order it loaded, not from the read model: an owner is
a customer on their own order whatever else they are, staff on someone else's order need the
model permission the transition names, and a customer never reaches another's order (404)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import User
from eventstore.commands import dispatch
from eventstore.store import load
from inventory.models import Product
from orders.commands import CreateOrder, RecordPaymentAuthorized
from orders.domain import Actor
from orders.exceptions import ActionForbidden
from orders.models import OrderView
from tests.commerce_project.test_problems import assert_problem
from tests.conftest import client_for
from tests.factories import UserFactory, staff_with
from tests.orders.conftest import ADDRESS_JSON, BACK_OFFICE, make_order, order_url

pytestmark = pytest.mark.django_db

NEW_ADDRESS = {**ADDRESS_JSON, "name": "Someone Else"}

# command → (path suffix, body); `{product}` is filled with the order's product id.
COMMANDS: dict[str, tuple[str, dict[str, Any]]] = {
    "add_item": ("items/", {"product_id": "{product}", "quantity": 1}),
    "change_item": ("items/{product}/", {"quantity": 2}),
    "set_address": ("shipping-address/", NEW_ADDRESS),
    "confirm": ("confirm/", {"payment_token": "tok_ok"}),
    "cancel": ("cancel/", {"reason": "fraud"}),
    "ship": ("ship/", {"carrier": "DHL", "tracking_number": "JD1"}),
    "deliver": ("deliver/", {}),
    "refund": ("refund/", {"reason": "damaged"}),
}


@dataclass(frozen=True)
class Row:
    role: str  # owner | staff_owner | staff | support | superuser | other_customer
    permissions: tuple[str, ...]
    state: str
    command: str
    status: int
    # The order's (status, payment_status) afterwards when the command succeeded.
    outcome: tuple[str, str] | None = None

    def __str__(self) -> str:
        perms = "+".join(self.permissions) or "-"
        return f"{self.role}[{perms}]-{self.state}-{self.command}-{self.status}"


ROWS = [
    # (c) staff editing someone else's DRAFT order need orders.change_order
    Row("staff", (), "DRAFT", "add_item", 403),
    Row("staff", (), "DRAFT", "change_item", 403),
    Row("staff", (), "DRAFT", "set_address", 403),
    Row("staff", (), "DRAFT", "confirm", 403),
    Row("staff", ("cancel_order",), "DRAFT", "set_address", 403),
    Row("staff", ("change_order",), "DRAFT", "set_address", 200, ("DRAFT", "NONE")),
    Row("staff", ("change_order",), "DRAFT", "confirm", 200, ("CONFIRMED", "NONE")),
    Row("support", (), "DRAFT", "set_address", 200, ("DRAFT", "NONE")),
    # the owner edits their own draft without any permission, staff or not
    Row("owner", (), "DRAFT", "set_address", 200, ("DRAFT", "NONE")),
    Row("owner", (), "DRAFT", "confirm", 200, ("CONFIRMED", "NONE")),
    Row("staff_owner", (), "DRAFT", "set_address", 200, ("DRAFT", "NONE")),
    Row("staff_owner", (), "DRAFT", "confirm", 200, ("CONFIRMED", "NONE")),
    # cancelling: the permission follows the loaded status
    Row("staff", (), "DRAFT", "cancel", 403),
    Row("staff", ("cancel_order",), "CONFIRMED", "cancel", 200, ("CANCELLED", "NONE")),
    Row("staff", ("refund_order",), "CONFIRMED", "cancel", 403),
    Row("staff", ("cancel_order",), "PAID", "cancel", 403),
    Row("staff", ("refund_order",), "PAID", "cancel", 200, ("CANCELLED", "REFUND_PENDING")),
    Row("support", (), "PAID", "cancel", 200, ("CANCELLED", "REFUND_PENDING")),
    Row("superuser", (), "PAID", "cancel", 200, ("CANCELLED", "REFUND_PENDING")),
    Row("owner", (), "CONFIRMED", "cancel", 200, ("CANCELLED", "NONE")),
    Row("owner", (), "PAID", "cancel", 409),
    # (a) staff on their own order are its customer: a PAID order cannot be cancelled
    Row("staff_owner", (), "CONFIRMED", "cancel", 200, ("CANCELLED", "NONE")),
    Row("staff_owner", (), "PAID", "cancel", 409),
    Row("staff_owner", ("refund_order",), "PAID", "cancel", 409),
    # staff-only transitions: the named permission, never on one's own order
    Row("owner", (), "PAID", "ship", 403),
    Row("staff", (), "PAID", "ship", 403),
    Row("staff", ("cancel_order",), "PAID", "ship", 403),
    Row("staff", ("ship_order",), "PAID", "ship", 200, ("SHIPPED", "CAPTURED")),
    Row("staff_owner", ("ship_order",), "PAID", "ship", 403),
    Row("staff", ("ship_order",), "SHIPPED", "deliver", 403),
    Row("staff", ("deliver_order",), "SHIPPED", "deliver", 200, ("DELIVERED", "CAPTURED")),
    Row("staff", ("cancel_order",), "SHIPPED", "refund", 403),
    Row("staff", ("refund_order",), "SHIPPED", "refund", 200, ("REFUNDED", "REFUND_PENDING")),
    Row("staff_owner", ("refund_order",), "SHIPPED", "refund", 403),
    # a permission does not make an illegal transition legal
    Row("staff", ("ship_order",), "CONFIRMED", "ship", 409),
    Row("staff", ("change_order",), "CONFIRMED", "set_address", 409),
    # a customer never sees someone else's order
    Row("other_customer", (), "DRAFT", "set_address", 404),
    Row("other_customer", (), "CONFIRMED", "cancel", 404),
]


def _user(role: str, permissions: tuple[str, ...]) -> User:
    if role == "other_customer":
        user: User = UserFactory()
        return user
    return staff_with(
        *(f"orders.{codename}" for codename in permissions),
        groups=("support",) if role == "support" else (),
        is_superuser=role == "superuser",
    )


def _filled(value: Any, product: Product) -> Any:
    if isinstance(value, str):
        return value.replace("{product}", str(product.pk))
    if isinstance(value, dict):
        return {k: _filled(v, product) for k, v in value.items()}
    return value


def _send(client: APIClient, order_id: Any, command: str, product: Product) -> Any:
    suffix, body = COMMANDS[command]
    url = order_url(order_id, _filled(suffix, product))
    if command in ("change_item", "set_address"):
        return client.put(url, _filled(body, product), format="json")
    return client.post(url, _filled(body, product), format="json")


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_who_may_run_which_command_on_which_order(
    row: Row, customer: User, widget: Product
) -> None:
    # given an order in the row's state, owned by the acting user for the owner roles
    actor = customer if row.role == "owner" else _user(row.role, row.permissions)
    owner = actor if row.role in ("owner", "staff_owner") else customer
    order = make_order(owner, lines=[(widget, 1)], to=row.state)
    before = len(load(order.id))
    # when
    response = _send(client_for(actor), order.id, row.command, widget)
    # then
    if row.status != 200:
        problem = {403: "forbidden", 404: "not-found", 409: "illegal-transition"}[row.status]
        assert_problem(response, row.status, problem)
        assert len(load(order.id)) == before, "a refused command must record nothing"
        return
    assert response.status_code == 200, response.content
    view = OrderView.objects.get(pk=order.id)
    assert (view.status, view.payment_status) == row.outcome


def test_the_permission_follows_the_loaded_order_not_a_stale_read_model(
    customer: User, widget: Product
) -> None:
    # given an order the saga has just marked PAID, while the read model the request saw
    # still says CONFIRMED (the request read it a moment before the saga committed)
    order = make_order(customer, lines=[(widget, 1)], to="PAID")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE order_views SET status = 'CONFIRMED' WHERE order_id = %s", [order.id]
        )
    agent = _user("staff", ("cancel_order",))
    # when an agent who may cancel, but not refund, cancels it
    response = client_for(agent).post(order_url(order.id, "cancel/"), {"reason": "fraud"})
    # then the handler decides from the PAID order it loaded: a refund needs refund_order
    body = assert_problem(response, 403, "forbidden")
    assert body["required_permission"] == "orders.refund_order"
    assert [e.event_type for e in load(order.id)][-1] == "OrderPaid"


def test_a_forbidden_command_names_the_transition_and_the_permission(
    customer: User, widget: Product
) -> None:
    order = make_order(customer, lines=[(widget, 1)])
    response = client_for(_user("staff", ())).put(
        order_url(order.id, "shipping-address/"), NEW_ADDRESS, format="json"
    )
    body = assert_problem(response, 403, "forbidden")
    assert body["transition"] == "set_shipping_address"
    assert body["required_permission"] == "orders.change_order"


# --- the command carries its actor, also below the API


def test_only_the_saga_records_payments(customer: User, widget: Product) -> None:
    order = make_order(customer, lines=[(widget, 1)], to="CONFIRMED")
    for actor in (BACK_OFFICE, Actor.customer(customer.pk)):
        with pytest.raises(ActionForbidden):
            dispatch(
                RecordPaymentAuthorized(
                    order_id=order.id, actor=actor, payment_id=uuid4(), amount=order.total_amount
                )
            )
    assert [e.event_type for e in load(order.id)][-1] == "OrderConfirmed"


def test_an_order_is_created_only_by_its_own_customer(customer: User, other_customer: User) -> None:
    with pytest.raises(ActionForbidden):
        dispatch(
            CreateOrder(
                order_id=uuid4(), actor=Actor.customer(other_customer.pk), customer_id=customer.pk
            )
        )


def test_the_events_name_the_commands_actor(customer: User, widget: Product) -> None:
    order = make_order(customer, lines=[(widget, 1)], to="PAID")
    actors = [e.metadata["actor"] for e in load(order.id)]
    assert actors[0] == f"customer:{customer.pk}"
    assert actors[-1] == "saga"
