"""Concurrent commands on one order, with real threads and real connections."""

from __future__ import annotations

import pytest

from accounts.models import User
from commerce_project.errors import ApplicationError
from eventstore.commands import dispatch
from eventstore.exceptions import ConcurrencyError
from eventstore.store import load
from inventory.models import Product
from orders.commands import AddOrderItem, CancelOrder, ConfirmOrder
from orders.domain import Actor
from orders.models import OrderView
from tests.concurrency import run_together
from tests.orders.conftest import make_order
from tests.orders.factories import ProductFactory


@pytest.mark.django_db(transaction=True)
def test_concurrent_line_additions_all_land_without_gaps(customer: User, widget: Product) -> None:
    # given
    order = make_order(customer, lines=[(widget, 1)])
    products = [ProductFactory() for _ in range(4)]
    # when
    results = run_together(
        *[
            lambda p=p: dispatch(
                AddOrderItem(
                    order_id=order.id,
                    actor=Actor.customer(customer.pk),
                    product_id=p.pk,
                    quantity=1,
                )
            )
            for p in products
        ]
    )
    # then: the bus retried the losers, so every line is there
    assert not [r for r in results if isinstance(r, Exception)]
    stream = load(order.id)
    assert [e.version for e in stream] == list(range(1, len(stream) + 1))
    view = OrderView.objects.get(pk=order.id)
    assert view.version == len(stream)
    assert {i["sku"] for i in view.items} == {widget.sku, *(p.sku for p in products)}


@pytest.mark.django_db(transaction=True)
def test_confirm_racing_cancel_has_one_winner(customer: User, widget: Product) -> None:
    # given
    order = make_order(customer, lines=[(widget, 1)])
    # when
    results = run_together(
        lambda: dispatch(
            ConfirmOrder(
                order_id=order.id, actor=Actor.customer(customer.pk), payment_token="tok_ok"
            )
        ),
        lambda: dispatch(
            CancelOrder(order_id=order.id, actor=Actor.customer(customer.pk), reason="changed_mind")
        ),
    )
    # then: either cancel came second and cancelled the confirmed order, or confirm lost
    errors = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(e, ApplicationError | ConcurrencyError) for e in errors)
    final = OrderView.objects.get(pk=order.id)
    assert final.status == "CANCELLED"
    assert final.version == len(load(order.id))
