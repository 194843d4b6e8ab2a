"""What the back office adds to the order read model goes through the projection: the
lower-case SKUs its search uses, and notes that move the row's version and nothing else;
rebuild and verify fold them like every other event."""

from __future__ import annotations

from uuid import uuid4

import pytest

from accounts.models import User
from eventstore.commands import dispatch
from eventstore.rebuild import rebuild_projection
from eventstore.store import stream_version
from eventstore.verify import verify_projection
from inventory.models import Product
from orders.commands import AddOrderNote
from orders.domain import Actor
from orders.models import OrderView
from tests.orders.conftest import make_order

pytestmark = pytest.mark.django_db

AGENT = Actor.staff(uuid4(), {"orders.add_order_note"})


def test_notes_and_skus_survive_rebuild_and_verify(
    customer: User, widget: Product, gadget: Product
) -> None:
    # given an order with two lines and two notes, one between its own events
    order = make_order(customer, lines=[(widget, 1), (gadget, 2)], to="CONFIRMED")
    for text in ("first call", "second call"):
        dispatch(AddOrderNote(order_id=order.id, actor=AGENT, author_name="ada", text=text))
    before = OrderView.objects.get(pk=order.id)
    assert before.skus == ["gadget", "widget"]
    assert before.version == stream_version(order.id) == order.version + 2
    assert before.updated_at == order.updated_at
    # when
    verified = verify_projection("order_views")
    rebuild_projection("order_views")
    # then
    assert verified.ok, verified.drifts
    after = OrderView.objects.get(pk=order.id)
    assert (after.skus, after.version, after.updated_at) == (
        before.skus,
        before.version,
        before.updated_at,
    )
    assert verify_projection("order_views").ok


def test_a_drifted_skus_column_is_caught_by_verify(customer: User, widget: Product) -> None:
    # given a row whose search column no longer matches its lines
    order = make_order(customer, lines=[(widget, 1)])
    OrderView.objects.filter(pk=order.id).update(skus=["something-else"])
    # when / then
    assert not verify_projection("order_views").ok
