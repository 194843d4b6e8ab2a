"""The partial-refund form on the admin's order page: it shows what is refundable, offers
amount or units per line with a restock box, dispatches the API's command, and is there only
for staff holding orders.refund_order."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from accounts.models import User
from eventstore.store import load
from inventory.models import Product
from orders.models import OrderView
from tests.conftest import admin_client_for
from tests.factories import staff_with
from tests.orders.conftest import make_order
from tests.orders.factories import ProductFactory

pytestmark = pytest.mark.django_db


def page(order_id: object) -> str:
    return f"/admin/orders/orderview/{order_id}/change/"


def form_url(order_id: object) -> str:
    return f"/admin/orders/orderview/{order_id}/refund-part/"


@pytest.fixture
def support_client(db: None) -> Client:
    return admin_client_for(staff_with(groups=("support",)))


@pytest.fixture
def viewer_client(db: None) -> Client:
    return admin_client_for(staff_with("orders.view_orderview"))


def refund_events(order_id: object) -> list[object]:
    return [e.event for e in load(order_id) if e.event_type == "OrderRefundRequested"]


def test_the_order_page_offers_the_form_with_what_is_refundable(
    customer: User, widget: Product, support_client: Client
) -> None:
    # given
    order = make_order(customer, lines=[(widget, 2)], to="SHIPPED")
    view = OrderView.objects.get(pk=order.id)
    # when
    order_page = support_client.get(page(order.id)).content.decode()
    form_page = support_client.get(form_url(order.id)).content.decode()
    # then
    assert form_url(order.id) in order_page
    assert f"{view.total_amount} EUR refundable" in order_page
    assert f"<strong>{view.total_amount} EUR</strong>" in form_page
    assert f'name="quantity_{widget.pk}"' in form_page
    assert f'name="restock_{widget.pk}"' in form_page


def test_refunding_one_line_dispatches_the_refund_with_the_chosen_restock(
    customer: User, widget: Product, support_client: Client
) -> None:
    # given: two lines
    gadget = ProductFactory(price=Decimal("4.00"))
    order = make_order(customer, lines=[(widget, 2), (gadget, 1)], to="SHIPPED")
    version = OrderView.objects.get(pk=order.id).version
    # when: one widget back on the shelf, nothing of the gadget
    response = support_client.post(
        form_url(order.id),
        {
            "version": str(version),
            "reason": "damaged",
            "note": "box dented",
            f"quantity_{widget.pk}": "1",
            f"restock_{widget.pk}": "on",
            f"quantity_{gadget.pk}": "0",
        },
    )
    # then
    assert response.status_code == 302
    [event] = refund_events(order.id)
    assert event.amount == widget.price  # type: ignore[attr-defined]
    assert [(line.product_id, line.quantity, line.restock) for line in event.lines] == [  # type: ignore[attr-defined]
        (widget.pk, 1, True)
    ]
    assert event.note == "box dented"  # type: ignore[attr-defined]
    view = OrderView.objects.get(pk=order.id)
    assert view.refundable_amount == view.total_amount - widget.price
    assert view.status == "SHIPPED"


def test_amount_and_units_together_are_refused_on_the_form(
    customer: User, widget: Product, support_client: Client
) -> None:
    order = make_order(customer, lines=[(widget, 2)], to="SHIPPED")
    version = OrderView.objects.get(pk=order.id).version
    response = support_client.post(
        form_url(order.id),
        {
            "version": str(version),
            "reason": "damaged",
            "amount": "1.00",
            f"quantity_{widget.pk}": "1",
        },
    )
    assert response.status_code == 200
    assert "not both" in response.content.decode()
    assert refund_events(order.id) == []


def test_too_much_is_reported_and_nothing_recorded(
    customer: User, widget: Product, support_client: Client
) -> None:
    order = make_order(customer, lines=[(widget, 1)], to="SHIPPED")
    version = OrderView.objects.get(pk=order.id).version
    response = support_client.post(
        form_url(order.id),
        {"version": str(version), "reason": "goodwill", "amount": "999.00"},
        follow=True,
    )
    assert "Refund failed" in response.content.decode()
    assert "is refundable" in response.content.decode()
    assert refund_events(order.id) == []


@pytest.mark.parametrize("posted", ["", "two", "-1", "9" * 30])
def test_a_form_without_a_usable_version_dispatches_nothing(
    customer: User, widget: Product, support_client: Client, posted: str
) -> None:
    order = make_order(customer, lines=[(widget, 1)], to="SHIPPED")
    response = support_client.post(
        form_url(order.id), {"version": posted, "reason": "goodwill", "amount": "1.00"}, follow=True
    )
    assert "did not carry the order&#x27;s version" in response.content.decode()
    assert refund_events(order.id) == []


def test_staff_without_the_refund_permission_get_no_form(
    customer: User, widget: Product, viewer_client: Client
) -> None:
    order = make_order(customer, lines=[(widget, 2)], to="SHIPPED")
    assert form_url(order.id) not in viewer_client.get(page(order.id)).content.decode()
    response = viewer_client.post(
        form_url(order.id), {"version": "9", "reason": "damaged", "amount": "1.00"}
    )
    assert response.status_code == 302
    assert refund_events(order.id) == []


def test_an_order_not_yet_paid_gets_no_form(
    customer: User, widget: Product, support_client: Client
) -> None:
    order = make_order(customer, lines=[(widget, 2)], to="CONFIRMED")
    assert form_url(order.id) not in support_client.get(page(order.id)).content.decode()
