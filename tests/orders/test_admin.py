"""The back office: the order list and page, and transition buttons that dispatch the same
commands as the API, only for staff holding the transition's permission."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from accounts.models import User
from eventstore.commands import dispatch
from eventstore.models import Event
from eventstore.store import load
from inventory.models import Product
from orders.commands import ConfirmOrder
from orders.domain import Actor
from orders.models import OrderView
from tests.conftest import admin_client_for, client_for
from tests.factories import UserFactory, staff_with
from tests.orders.conftest import make_order

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/orders/orderview/"


def page(order_id: object) -> str:
    return f"{CHANGELIST}{order_id}/change/"


def transition(order_id: object, name: str) -> str:
    return f"{CHANGELIST}{order_id}/transition/{name}/"


@pytest.fixture
def admin_client(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def support_client(db: None) -> Client:
    return admin_client_for(staff_with(groups=("support",)))


@pytest.fixture
def viewer_client(db: None) -> Client:
    """Staff who may look at orders but hold no transition permission."""
    return admin_client_for(staff_with("orders.view_orderview"))


def test_support_group_holds_the_transition_permissions() -> None:
    codenames = set(
        Group.objects.get(name="support").permissions.values_list("codename", flat=True)
    )
    assert {"ship_order", "deliver_order", "cancel_order", "refund_order", "view_orderview"} <= (
        codenames
    )


@pytest.mark.parametrize("term", ["id", "email", "sku"])
def test_search_by_order_id_customer_email_and_sku(
    admin_client: Client,
    customer: User,
    other_customer: User,
    widget: Product,
    gadget: Product,
    term: str,
) -> None:
    # given
    mine = make_order(customer, lines=[(widget, 1)])
    make_order(other_customer, lines=[(gadget, 1)])
    query = {"id": str(mine.id), "email": customer.email, "sku": "WIDGET"}[term]
    # when
    response = admin_client.get(CHANGELIST, {"q": query})
    # then
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [OrderView.objects.get(pk=mine.id)]


def test_list_filters_by_status(admin_client: Client, customer: User, widget: Product) -> None:
    make_order(customer, lines=[(widget, 1)])
    paid = make_order(customer, lines=[(widget, 1)], to="PAID")
    response = admin_client.get(CHANGELIST, {"status__exact": "PAID"})
    assert [v.order_id for v in response.context["cl"].result_list] == [paid.id]


def test_order_page_shows_lines_payment_saga_and_timeline(
    admin_client: Client, customer: User, widget: Product
) -> None:
    order = make_order(customer, lines=[(widget, 2)], to="PAID")
    response = admin_client.get(page(order.id))
    html = response.content.decode()
    assert response.status_code == 200
    assert "WIDGET" in html
    assert "25.00 EUR" in html
    assert "CAPTURED" in html
    assert f"/api/v1/sagas/{OrderView.objects.get(pk=order.id).saga_id}/" in html
    for event in load(order.id):
        assert event.event_type in html
    assert "tok_ok" not in html
    # only the transitions open from PAID
    assert transition(order.id, "ship") in html
    assert transition(order.id, "cancel_with_refund") in html
    assert transition(order.id, "deliver") not in html
    assert transition(order.id, "refund") not in html


def test_the_read_model_cannot_be_edited(
    admin_client: Client, customer: User, widget: Product
) -> None:
    order = make_order(customer, lines=[(widget, 1)])
    response = admin_client.post(page(order.id), {"status": "DELIVERED"})
    assert response.status_code == 403
    assert OrderView.objects.get(pk=order.id).status == "DRAFT"


def test_support_ships_an_order_through_the_command(
    support_client: Client, customer: User, widget: Product
) -> None:
    # given
    order = make_order(customer, lines=[(widget, 1)], to="PAID")
    assert support_client.get(transition(order.id, "ship")).status_code == 200
    # when
    response = support_client.post(
        transition(order.id, "ship"),
        {"carrier": "UPS", "tracking_number": "1Z999", "version": order.version},
    )
    # then
    assert response.status_code == 302
    view = OrderView.objects.get(pk=order.id)
    assert (view.status, view.carrier, view.tracking_number) == ("SHIPPED", "UPS", "1Z999")
    last = load(order.id)[-1]
    assert last.event_type == "OrderShipped"
    assert last.metadata["actor"].startswith("staff:")


def test_support_cancels_a_paid_order_with_a_refund(
    support_client: Client, customer: User, widget: Product
) -> None:
    order = make_order(customer, lines=[(widget, 1)], to="PAID")
    support_client.post(
        transition(order.id, "cancel_with_refund"),
        {"reason": "out_of_stock", "version": order.version},
    )
    view = OrderView.objects.get(pk=order.id)
    assert (view.status, view.payment_status) == ("CANCELLED", "REFUND_PENDING")


def test_a_stale_page_does_not_act(support_client: Client, customer: User, widget: Product) -> None:
    order = make_order(customer, lines=[(widget, 1)], to="SHIPPED")
    response = support_client.post(
        transition(order.id, "deliver"), {"version": order.version - 1}, follow=True
    )
    assert "failed" in response.content.decode()
    assert OrderView.objects.get(pk=order.id).status == "SHIPPED"


@pytest.mark.parametrize("version", ["abc", "", "1.5", "99999999999999999999999"])
def test_a_tampered_version_is_refused_with_a_message(
    support_client: Client, customer: User, widget: Product, version: str
) -> None:
    # given
    order = make_order(customer, lines=[(widget, 1)], to="SHIPPED")
    # when
    response = support_client.post(transition(order.id, "deliver"), {"version": version})
    # then
    assert response.status_code == 302
    assert response["Location"] == page(order.id)
    html = support_client.get(response["Location"]).content.decode()
    assert "Mark delivered failed" in html
    assert "version" in html
    assert OrderView.objects.get(pk=order.id).status == "SHIPPED"


def test_the_timeline_shows_event_data_as_json(
    admin_client: Client, customer: User, widget: Product
) -> None:
    # given
    order = make_order(customer, lines=[(widget, 2)], to="CONFIRMED")
    # when
    html = admin_client.get(page(order.id)).content.decode()
    # then the data is indented JSON (quotes escaped by the template), not a Python dict
    assert "&quot;unit_price&quot;: &quot;12.50&quot;" in html
    assert "&#x27;unit_price&#x27;" not in html
    assert "&quot;payment_token&quot;: &quot;[redacted]&quot;" in html
    assert "tok_ok" not in html


def test_staff_without_the_permission_gets_no_button_and_cannot_post(
    viewer_client: Client, customer: User, widget: Product
) -> None:
    order = make_order(customer, lines=[(widget, 1)], to="PAID")
    html = viewer_client.get(page(order.id)).content.decode()
    assert transition(order.id, "ship") not in html
    viewer_client.post(
        transition(order.id, "ship"),
        {"carrier": "UPS", "tracking_number": "1Z999", "version": order.version},
    )
    assert OrderView.objects.get(pk=order.id).status == "PAID"


def test_a_button_offered_from_a_stale_read_model_is_decided_on_the_loaded_order(
    customer: User, widget: Product
) -> None:
    # given an agent who may cancel but not refund, and a PAID order whose read model still
    # says CONFIRMED (so the page offers a plain Cancel)
    agent = UserFactory(is_staff=True)
    agent.user_permissions.add(
        Permission.objects.get(codename="view_orderview"),
        Permission.objects.get(codename="cancel_order"),
    )
    client = Client()
    client.force_login(agent)
    order = make_order(customer, lines=[(widget, 1)], to="PAID")
    OrderView.objects.filter(pk=order.id).update(status="CONFIRMED")
    # when
    response = client.post(
        transition(order.id, "cancel"), {"reason": "fraud", "version": order.version}, follow=True
    )
    # then the handler saw a PAID order, whose cancellation takes orders.refund_order
    assert "orders.refund_order" in response.content.decode()
    assert load(order.id)[-1].event_type == "OrderPaid"


def test_a_transition_not_open_from_the_status_is_refused(
    admin_client: Client, customer: User, widget: Product
) -> None:
    order = make_order(customer, lines=[(widget, 1)])
    admin_client.post(transition(order.id, "deliver"), {"version": order.version})
    assert OrderView.objects.get(pk=order.id).status == "DRAFT"


def test_customer_stats_page_lists_the_async_projection(admin_client: Client) -> None:
    assert admin_client.get("/admin/orders/customerorderstats/").status_code == 200


def test_no_read_surface_shows_the_payment_token(
    admin_client: Client, customer: User, widget: Product
) -> None:
    # given an order confirmed with a token (a secret: the saga alone reads it)
    secret = "tok_ok_4242424242424242"
    order = make_order(customer, lines=[(widget, 1)], to="DRAFT")
    dispatch(
        ConfirmOrder(order_id=order.id, actor=Actor.customer(customer.pk), payment_token=secret)
    )
    confirmed = Event.objects.get(aggregate_id=order.id, event_type="OrderConfirmed")
    assert confirmed.event_data["payment_token"] == secret  # stored, for the saga
    # when every place staff and clients read events is opened
    pages = {
        "event admin list": admin_client.get("/admin/eventstore/event/", {"q": str(order.id)}),
        "event admin page": admin_client.get(f"/admin/eventstore/event/{confirmed.pk}/change/"),
        "order admin page": admin_client.get(page(order.id)),
        "events API": client_for(customer).get(f"/api/v1/orders/{order.id}/events/"),
        "history API": client_for(customer).get(
            f"/api/v1/orders/{order.id}/history/", {"version": confirmed.version}
        ),
    }
    # then each answers, and none shows the token; the event pages show it redacted
    for name, response in pages.items():
        assert response.status_code == 200, name
        assert secret not in response.content.decode(), name
    assert "[redacted]" in pages["event admin page"].content.decode()
