"""The back office's order page for support staff: search by short reference, e-mail and
SKU ignoring case; internal notes; time travel through the timeline; resending the
confirmation e-mail; times with seconds and the time zone."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.test import Client

from accounts.models import User
from eventstore.store import load
from inventory.models import Product
from orders.models import OrderView
from tests.conftest import admin_client_for
from tests.factories import UserFactory, staff_with
from tests.orders.conftest import make_order

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/orders/orderview/"


def page(order_id: object) -> str:
    return f"{CHANGELIST}{order_id}/change/"


def version_page(order_id: object, version: int) -> str:
    return f"{CHANGELIST}{order_id}/version/{version}/"


@pytest.fixture
def agent(db: None) -> User:
    return staff_with(groups=("support",), username="agent.smith")


@pytest.fixture
def agent_client(agent: User) -> Client:
    return admin_client_for(agent)


@pytest.fixture
def viewer_client(db: None) -> Client:
    """Staff who may look at orders and nothing else."""
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_orderview"))
    client = Client()
    client.force_login(viewer)
    return client


# --- search


@pytest.mark.parametrize(
    "kind", ["short ref", "short ref upper case", "email other case", "sku lower case"]
)
def test_search_ignores_case_and_finds_the_short_reference(
    agent_client: Client,
    customer: User,
    other_customer: User,
    widget: Product,
    gadget: Product,
    kind: str,
) -> None:
    # given
    mine = make_order(customer, lines=[(widget, 1)])
    make_order(other_customer, lines=[(gadget, 1)])
    term = {
        "short ref": str(mine.id)[:8],
        "short ref upper case": str(mine.id)[:8].upper(),
        "email other case": customer.email.upper(),
        "sku lower case": "widget",
    }[kind]
    # when
    response = agent_client.get(CHANGELIST, {"q": f"  {term} "})
    # then
    assert response.status_code == 200
    assert [v.order_id for v in response.context["cl"].result_list] == [mine.id]


def test_search_for_nothing_known_finds_nothing(
    agent_client: Client, customer: User, widget: Product
) -> None:
    make_order(customer, lines=[(widget, 1)])
    for term in ("0000000", "nobody@example.com", "WIDG", "deadbeef"):
        response = agent_client.get(CHANGELIST, {"q": term})
        assert list(response.context["cl"].result_list) == [], term


# --- notes


def test_support_adds_a_note_from_the_order_page(
    agent_client: Client, agent: User, customer: User, widget: Product
) -> None:
    # given
    order = make_order(customer, lines=[(widget, 1)], to="PAID")
    html = agent_client.get(page(order.id)).content.decode()
    assert 'id="note-form"' in html
    # when
    response = agent_client.post(
        f"{CHANGELIST}{order.id}/notes/add/", {"text": "Called: parcel to neighbour"}, follow=True
    )
    # then
    assert "Note added." in response.content.decode()
    last = load(order.id)[-1]
    assert last.event_type == "OrderNoteAdded"
    assert (last.event.author, last.event.author_name, last.event.text) == (  # type: ignore[attr-defined]
        f"staff:{agent.pk}",
        "agent.smith",
        "Called: parcel to neighbour",
    )
    # and the timeline shows it, marked internal
    html = agent_client.get(page(order.id)).content.decode()
    assert "OrderNoteAdded (internal)" in html
    assert "Called: parcel to neighbour" in html


def test_an_empty_note_is_refused_with_a_message(
    agent_client: Client, customer: User, widget: Product
) -> None:
    order = make_order(customer, lines=[(widget, 1)])
    response = agent_client.post(f"{CHANGELIST}{order.id}/notes/add/", {"text": "  "}, follow=True)
    assert "The note was not added" in response.content.decode()
    assert load(order.id)[-1].event_type != "OrderNoteAdded"


def test_staff_without_the_note_permission_get_no_form_and_cannot_post(
    viewer_client: Client, customer: User, widget: Product
) -> None:
    order = make_order(customer, lines=[(widget, 1)])
    assert 'id="note-form"' not in viewer_client.get(page(order.id)).content.decode()
    response = viewer_client.post(f"{CHANGELIST}{order.id}/notes/add/", {"text": "hi"}, follow=True)
    assert "orders.add_order_note" in response.content.decode()
    assert load(order.id)[-1].event_type != "OrderNoteAdded"


# --- time travel


def test_each_timeline_row_links_to_the_order_at_that_version(
    agent_client: Client, customer: User, widget: Product
) -> None:
    order = make_order(customer, lines=[(widget, 1)], to="PAID")
    html = agent_client.get(page(order.id)).content.decode()
    for version in range(1, order.version + 1):
        assert f'href="{version_page(order.id, version)}"' in html


def test_a_version_shows_the_order_then_and_what_its_event_changed(
    agent_client: Client, customer: User, widget: Product
) -> None:
    # given a paid order (its last event OrderPaid)
    order = make_order(customer, lines=[(widget, 2)], to="PAID")
    # when
    response = agent_client.get(version_page(order.id, order.version))
    # then
    assert response.status_code == 200
    html = response.content.decode()
    changes = html.split('id="changes"')[1].split("</table>")[0]
    assert re.search(r"<td>status</td><td>CONFIRMED</td><td>PAID</td>", changes)
    assert re.search(r"<td>payment_status</td><td>AUTHORIZED</td><td>CAPTURED</td>", changes)
    assert f'href="{version_page(order.id, order.version - 1)}"' in html  # previous
    # and an earlier version is the order as it was (the same fold as the history API)
    html = agent_client.get(version_page(order.id, 2)).content.decode()
    assert "line WIDGET (added)" in html
    state = html.split('id="state"')[1].split("</table>")[0]
    assert "<th>status</th><td>DRAFT</td>" in state


def test_a_version_past_the_stream_is_a_message_not_a_500(
    agent_client: Client, customer: User, widget: Product
) -> None:
    order = make_order(customer, lines=[(widget, 1)])
    response = agent_client.get(version_page(order.id, order.version + 5), follow=True)
    assert response.status_code == 200
    assert f"has versions 1..{order.version}" in response.content.decode()


def test_the_history_button_opens_the_orders_own_history(
    agent_client: Client, customer: User, widget: Product
) -> None:
    order = make_order(customer, lines=[(widget, 1)], to="CONFIRMED")
    response = agent_client.get(f"{CHANGELIST}{order.id}/history/")
    assert response.status_code == 302
    assert response["Location"] == version_page(order.id, order.version)


# --- resend the confirmation e-mail


def test_support_resends_the_confirmation_email(
    agent_client: Client, customer: User, widget: Product
) -> None:
    # given
    order = make_order(customer, lines=[(widget, 1)], to="PAID")
    action = f"{CHANGELIST}{order.id}/action/resend_confirmation/"
    assert action in agent_client.get(page(order.id)).content.decode()
    mail.outbox.clear()
    # when
    response = agent_client.post(action, follow=True)
    # then
    assert "sent again" in response.content.decode()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [customer.email]
    assert str(order.id) in mail.outbox[0].body


def test_no_resend_without_the_permission_or_before_confirmation(
    viewer_client: Client, agent_client: Client, customer: User, widget: Product
) -> None:
    paid = make_order(customer, lines=[(widget, 1)], to="PAID")
    draft = make_order(customer, lines=[(widget, 1)])
    mail.outbox.clear()
    assert "resend_confirmation" not in viewer_client.get(page(paid.id)).content.decode()
    viewer_client.post(f"{CHANGELIST}{paid.id}/action/resend_confirmation/")
    assert "resend_confirmation" not in agent_client.get(page(draft.id)).content.decode()
    agent_client.post(f"{CHANGELIST}{draft.id}/action/resend_confirmation/")
    assert mail.outbox == []


# --- times


def test_times_show_seconds_and_the_time_zone(
    agent_client: Client, customer: User, widget: Product
) -> None:
    order = make_order(customer, lines=[(widget, 1)])
    created = OrderView.objects.get(pk=order.id).created_at
    expected = created.strftime("%Y-%m-%d %H:%M:%S") + " UTC"
    assert expected in agent_client.get(page(order.id)).content.decode()
    assert expected in agent_client.get(CHANGELIST).content.decode()


def test_resending_to_a_customer_without_an_address_is_a_message(
    agent_client: Client, widget: Product
) -> None:
    nameless = UserFactory(email="")
    order = make_order(nameless, lines=[(widget, 1)], to="PAID")
    mail.outbox.clear()
    response = agent_client.post(f"{CHANGELIST}{order.id}/action/resend_confirmation/", follow=True)
    assert response.status_code == 200
    assert "has no e-mail address" in response.content.decode()
    assert mail.outbox == []
