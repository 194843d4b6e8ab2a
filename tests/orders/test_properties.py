"""Random command sequences never break the Order's invariants.

Each example drives one order through commands drawn at random (legal or not, valid input
or not); after every command it checks: total = sum(quantity x unit price), lines never
change after DRAFT, PAID implies a captured payment, CANCELLED and REFUNDED are final,
versions are gap-free, and replaying the recorded events reproduces the aggregate.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commerce_project.errors import ApplicationError
from eventstore.events import DomainEvent, deserialize_event, event_class, serialize_event
from eventstore.repository import Repository
from eventstore.store import load
from orders.domain import ActorKind, CatalogueItem, Order, OrderLine, PaymentStatus, replay
from orders.models import OrderView

from .scenario import ADDRESS, CUSTOMER_ID, ORDER_ID, PAYMENT_ID, T0, catalogue_item

PRODUCTS: tuple[CatalogueItem, ...] = (
    catalogue_item(price="0.01", sku="A"),
    catalogue_item(price="19.99", sku="B"),
    catalogue_item(price="250.00", sku="C"),
    catalogue_item(price="5.00", sku="D-USD", currency="USD"),
)

Command = Callable[[Order], None]
products = st.sampled_from(PRODUCTS)
quantities = st.integers(min_value=-2, max_value=1001)
reasons = st.sampled_from(["changed_mind", "out_of_stock", "damaged"])


def _amount(order: Order, exact: bool) -> Decimal:
    return order.total_amount if exact else order.total_amount + Decimal("0.01")


def command_strategy() -> st.SearchStrategy[tuple[str, Command]]:
    at = T0
    return st.one_of(
        st.just(("create", lambda o: o.create(customer_id=CUSTOMER_ID, currency="EUR", at=at))),
        st.tuples(products, quantities).map(
            lambda pq: ("add_item", lambda o: o.add_item(item=pq[0], quantity=pq[1], at=at))
        ),
        st.tuples(products, quantities).map(
            lambda pq: (
                "change_item_quantity",
                lambda o: o.change_item_quantity(
                    product_id=pq[0].product_id, quantity=pq[1], at=at
                ),
            )
        ),
        products.map(
            lambda p: ("remove_item", lambda o: o.remove_item(product_id=p.product_id, at=at))
        ),
        st.just(("set_shipping_address", lambda o: o.set_shipping_address(address=ADDRESS, at=at))),
        st.just(("confirm", lambda o: o.confirm(payment_token="tok_ok", at=at))),
        st.booleans().map(
            lambda exact: (
                "authorize_payment",
                lambda o: o.authorize_payment(
                    payment_id=PAYMENT_ID, amount=_amount(o, exact), at=at
                ),
            )
        ),
        st.just(("mark_paid", lambda o: o.mark_paid(payment_id=PAYMENT_ID, at=at))),
        st.just(("ship", lambda o: o.ship(carrier="DHL", tracking_number="JD1", at=at))),
        st.just(("deliver", lambda o: o.deliver(at=at))),
        st.tuples(reasons, st.sampled_from(ActorKind), st.booleans()).map(
            lambda r: (
                "cancel",
                lambda o: o.cancel(reason=r[0], by=r[1], refunded=r[2], at=at),
            )
        ),
        st.tuples(reasons, st.sampled_from(ActorKind), st.booleans()).map(
            lambda r: (
                "cancel_with_refund",
                lambda o: o.cancel_with_refund(reason=r[0], by=r[1], refunded=r[2], at=at),
            )
        ),
        reasons.map(lambda r: ("refund", lambda o: o.refund(reason=r, at=at))),
        st.booleans().map(
            lambda exact: (
                "record_refund",
                lambda o: o.record_refund(payment_id=PAYMENT_ID, amount=_amount(o, exact), at=at),
            )
        ),
    )


def _happy_path() -> list[tuple[str, Command]]:
    at = T0
    return [
        ("create", lambda o: o.create(customer_id=CUSTOMER_ID, currency="EUR", at=at)),
        ("add_item", lambda o: o.add_item(item=PRODUCTS[1], quantity=2, at=at)),
        ("set_shipping_address", lambda o: o.set_shipping_address(address=ADDRESS, at=at)),
        ("confirm", lambda o: o.confirm(payment_token="tok_ok", at=at)),
        (
            "authorize_payment",
            lambda o: o.authorize_payment(payment_id=PAYMENT_ID, amount=o.total_amount, at=at),
        ),
        ("mark_paid", lambda o: o.mark_paid(payment_id=PAYMENT_ID, at=at)),
        ("ship", lambda o: o.ship(carrier="DHL", tracking_number="JD1", at=at)),
        ("deliver", lambda o: o.deliver(at=at)),
        ("refund", lambda o: o.refund(reason="damaged", at=at)),
    ]


@st.composite
def command_sequences(draw: st.DrawFn) -> list[tuple[str, Command]]:
    """Random commands interleaved with the first `stage` steps of the happy path, so that
    examples reach every status instead of dying in DRAFT."""
    stage = draw(st.integers(min_value=0, max_value=len(_happy_path())))
    sequence: list[tuple[str, Command]] = []
    for step in _happy_path()[:stage]:
        sequence += draw(st.lists(command_strategy(), max_size=4))
        sequence.append(step)
    sequence += draw(st.lists(command_strategy(), max_size=12))
    return sequence


def _lines(order: Order) -> dict[Any, OrderLine]:
    return dict(order.lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_sequences())
def test_random_command_sequences_keep_the_invariants(
    commands: list[tuple[str, Command]],
) -> None:
    order = Order.blank(ORDER_ID)
    # What a store would hold: (version, serialized event) appended after every command.
    stream: list[tuple[int, str, dict[str, Any]]] = []
    lines_when_draft_ended: dict[Any, OrderLine] | None = None
    final_status: str | None = None

    for _name, command in commands:
        status_before, version_before = order.status, order.version
        try:
            command(order)
        except ApplicationError:
            # a rejected command leaves nothing behind
            assert order.pending_events == []
            assert (order.status, order.version) == (status_before, version_before)
            continue
        for offset, event in enumerate(order.pending_events, start=1):
            stream.append((order.saved_version + offset, event.event_type, serialize_event(event)))
        order.mark_saved()

        # total = sum(quantity x unit price)
        assert order.total_amount == sum(
            (line.unit_price * line.quantity for line in order.lines.values()), Decimal("0")
        )
        assert all(1 <= line.quantity <= 999 for line in order.lines.values())
        # lines never change after DRAFT
        if order.status != "DRAFT" and lines_when_draft_ended is None:
            lines_when_draft_ended = _lines(order)
        if lines_when_draft_ended is not None:
            assert _lines(order) == lines_when_draft_ended
        # PAID implies captured
        if order.status == "PAID":
            assert order.payment_status == PaymentStatus.CAPTURED
        # CANCELLED and REFUNDED are final
        if final_status is not None:
            assert order.status == final_status
        if order.status in ("CANCELLED", "REFUNDED"):
            final_status = order.status
        # versions gap-free
        assert [v for v, _, _ in stream] == list(range(1, order.version + 1))
        # replaying the stored events reproduces the aggregate
        events: list[DomainEvent] = [
            deserialize_event(event_type, event_class(event_type).schema_version, data)
            for _, event_type, data in stream
        ]
        replayed = replay(ORDER_ID, events)
        assert replayed.snapshot_state() == order.snapshot_state()
        assert replayed.version == order.version


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(command_sequences())
def test_the_event_store_keeps_streams_gap_free_and_replayable(
    commands: list[tuple[str, Command]],
) -> None:
    # Same commands, but saved through the real repository after each one.
    repository = Repository(Order)
    order_id = uuid4()
    order = Order.blank(order_id)
    for _name, command in commands:
        try:
            command(order)
        except ApplicationError:
            continue
        repository.save(order)
    if order.version == 0:
        return
    stored = load(order_id)
    assert [e.version for e in stored] == list(range(1, order.version + 1))
    loaded = repository.get(order_id)
    assert loaded.snapshot_state() == order.snapshot_state()
    assert loaded.version == order.version
    # and the inline read model agrees with the stream
    assert OrderView.objects.get(pk=order_id).version == order.version
