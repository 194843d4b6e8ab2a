"""Internal notes over the API: `POST/GET orders/{id}/notes/` for staff holding
orders.add_order_note; a customer never sees a note, not in the order, its events or its
history."""

from __future__ import annotations

from uuid import uuid4

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from eventstore.commands import dispatch
from eventstore.store import load
from inventory.models import Product
from orders.commands import CancelOrder
from orders.domain import Actor
from orders.models import OrderView
from tests.commerce_project.test_problems import assert_problem
from tests.conftest import client_for
from tests.factories import UserFactory, staff_with
from tests.orders.conftest import make_order, order_url

pytestmark = pytest.mark.django_db

SECRET = "customer threatened a chargeback"


@pytest.fixture
def agent(db: None) -> User:
    return staff_with(groups=("support",), username="agent.smith")


@pytest.fixture
def agent_client(agent: User) -> APIClient:
    return client_for(agent)


def test_support_adds_and_reads_a_note(
    agent_client: APIClient, agent: User, customer: User, widget: Product
) -> None:
    # given
    order = make_order(customer, lines=[(widget, 1)], to="PAID")
    # when
    created = agent_client.post(order_url(order.id, "notes/"), {"text": SECRET}, format="json")
    listed = agent_client.get(order_url(order.id, "notes/"))
    # then
    assert created.status_code == 201, created.content
    note = created.json()
    assert note["version"] == order.version + 1
    assert created["ETag"] == f'"{order.version + 1}"'
    assert (note["author"], note["author_name"], note["text"]) == (
        f"staff:{agent.pk}",
        "agent.smith",
        SECRET,
    )
    assert listed.status_code == 200
    assert listed.json()["results"] == [note]
    last = load(order.id)[-1]
    assert (last.event_type, last.metadata["actor"]) == ("OrderNoteAdded", f"staff:{agent.pk}")
    # the read model follows the stream's version, and nothing else moved
    view = OrderView.objects.get(pk=order.id)
    assert (view.version, view.status, view.updated_at) == (
        order.version + 1,
        "PAID",
        order.updated_at,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 2001}, "text"),
    ],
)
def test_a_note_without_usable_text_is_400(
    agent_client: APIClient, customer: User, widget: Product, body: dict[str, str], field: str
) -> None:
    order = make_order(customer, lines=[(widget, 1)])
    response = agent_client.post(order_url(order.id, "notes/"), body, format="json")
    problem = assert_problem(response, 400, "invalid-input")
    assert field in problem["errors"]
    assert load(order.id)[-1].event_type != "OrderNoteAdded"


def test_staff_without_the_permission_may_neither_add_nor_read(
    agent_client: APIClient, customer: User, widget: Product
) -> None:
    # given a note, and staff who lack orders.add_order_note
    order = make_order(customer, lines=[(widget, 1)])
    agent_client.post(order_url(order.id, "notes/"), {"text": SECRET}, format="json")
    bare = client_for(UserFactory(is_staff=True))
    # when / then
    added = bare.post(order_url(order.id, "notes/"), {"text": "hi"}, format="json")
    assert assert_problem(added, 403, "forbidden")["required_permission"] == "orders.add_order_note"
    assert_problem(bare.get(order_url(order.id, "notes/")), 403, "forbidden")
    assert SECRET not in bare.get(order_url(order.id, "events/")).content.decode()
    assert [e.event_type for e in load(order.id)].count("OrderNoteAdded") == 1


def test_a_customer_never_sees_a_note(
    agent_client: APIClient, customer_client: APIClient, customer: User, widget: Product
) -> None:
    # given an order with a note between two of its events
    order = make_order(customer, lines=[(widget, 1)], to="CONFIRMED")
    agent_client.post(order_url(order.id, "notes/"), {"text": SECRET}, format="json")
    dispatch(
        CancelOrder(order_id=order.id, actor=Actor.customer(customer.pk), reason="changed_mind")
    )
    note_version = order.version + 1
    # when the customer reads everything about the order
    responses = {
        "order": customer_client.get(order_url(order.id)),
        "events": customer_client.get(order_url(order.id, "events/")),
        "last page": customer_client.get(
            order_url(order.id, "events/"), {"page_size": 1, "page": note_version}
        ),
        "history at the note": customer_client.get(
            order_url(order.id, "history/"), {"version": note_version}
        ),
    }
    # then no response shows the note; the events list simply skips its version
    for name, response in responses.items():
        assert response.status_code == 200, name
        body = response.content.decode()
        assert SECRET not in body, name
        assert "OrderNoteAdded" not in body, name
    events = responses["events"].json()
    assert events["count"] == note_version  # every event but the note
    assert [e["version"] for e in events["results"]] == [
        *range(1, note_version),
        note_version + 1,
    ]
    assert [e["version"] for e in responses["last page"].json()["results"]] == [note_version + 1]
    # and the notes endpoint is staff only
    assert_problem(customer_client.get(order_url(order.id, "notes/")), 403, "forbidden")
    assert_problem(
        customer_client.post(order_url(order.id, "notes/"), {"text": "mine"}, format="json"),
        403,
        "forbidden",
    )


def test_staff_see_notes_in_the_events(
    agent_client: APIClient, customer: User, widget: Product
) -> None:
    order = make_order(customer, lines=[(widget, 1)])
    agent_client.post(order_url(order.id, "notes/"), {"text": SECRET}, format="json")
    events = agent_client.get(order_url(order.id, "events/")).json()["results"]
    assert events[-1]["event_type"] == "OrderNoteAdded"
    assert events[-1]["data"]["text"] == SECRET


def test_a_note_on_an_unknown_order_is_404(agent_client: APIClient) -> None:
    response = agent_client.post(order_url(uuid4(), "notes/"), {"text": "x"}, format="json")
    assert_problem(response, 404, "not-found")


def test_a_stale_if_match_is_412_and_adds_nothing(
    agent_client: APIClient, customer: User, widget: Product
) -> None:
    order = make_order(customer, lines=[(widget, 1)])
    response = agent_client.post(
        order_url(order.id, "notes/"),
        {"text": "x"},
        format="json",
        HTTP_IF_MATCH=f'"{order.version - 1}"',
    )
    assert response.status_code == 412
    assert len(load(order.id)) == order.version
