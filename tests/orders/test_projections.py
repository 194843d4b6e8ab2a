"""The read models: OrderView is exactly the aggregate's state, committed with its events,
guarded by version, and rebuildable by folding the stream; the customer statistics follow
through the asynchronous catch-up runner and never count an event twice."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from accounts.models import User
from eventstore.commands import dispatch
from eventstore.models import Snapshot
from eventstore.projections import (
    Projection,
    get_projection,
    projection_registry,
    run_projection,
)
from eventstore.rebuild import rebuild_projection
from eventstore.store import load
from eventstore.verify import verify_projection
from inventory.models import Product
from orders.commands import (
    AddOrderItem,
    AddOrderNote,
    CancelOrder,
    ChangeOrderItemQuantity,
    DeliverOrder,
    MarkOrderPaid,
    RecordPaymentAuthorized,
    RecordPaymentRefunded,
    RefundOrder,
    orders,
)
from orders.domain import SAGA, Actor, Order, OrderCreated
from orders.models import CustomerOrderStats, OrderView
from orders.projections import order_view_row
from tests.eventstore.conftest import (
    append_under_an_older_transaction,
    digits_apart_transaction_id,
    insert_event_as_transaction,
    stream_versions_in_read_order,
)
from tests.orders import scenario
from tests.orders.conftest import BACK_OFFICE, catch_up, make_order

pytestmark = pytest.mark.django_db


def stored_row(order_id: object) -> dict[str, object]:
    view = OrderView.objects.get(pk=order_id)
    return {f.attname: getattr(view, f.attname) for f in OrderView._meta.fields}


def test_order_view_is_the_aggregate_state(customer: User, widget: Product) -> None:
    # given
    order = make_order(customer, lines=[(widget, 3)], to="SHIPPED")
    # then
    expected = order_view_row(orders.get(order.id))
    row = stored_row(order.id)
    assert row == {k: expected[k] for k in row}
    assert row["version"] == len(load(order.id))
    assert row["total_amount"] == Decimal("37.50")


def test_a_failed_command_leaves_no_trace_in_the_read_model(
    customer: User, widget: Product
) -> None:
    order = make_order(customer, lines=[(widget, 1)])
    before = stored_row(order.id)
    with pytest.raises(Exception, match="Cannot refund"):
        dispatch(RefundOrder(order_id=order.id, actor=BACK_OFFICE, reason="damaged"))
    assert stored_row(order.id) == before


def test_redelivered_old_events_do_not_move_the_row_back(customer: User, widget: Product) -> None:
    # given
    order = make_order(customer, lines=[(widget, 1)], to="CONFIRMED")
    before = stored_row(order.id)
    # when: the first two events are handled again (a late or repeated delivery)
    get_projection("order_views").handle(load(order.id, to_version=2))
    # then
    assert stored_row(order.id) == before


def test_folding_the_stream_rebuilds_the_same_row(customer: User, widget: Product) -> None:
    # given
    order = make_order(customer, lines=[(widget, 2)], to="PAID")
    dispatch(CancelOrder(order_id=order.id, actor=BACK_OFFICE, reason="out_of_stock"))
    before = stored_row(order.id)
    # when: the row is lost and the projection folds the whole stream again
    OrderView.objects.filter(pk=order.id).delete()
    get_projection("order_views").project(load(order.id), table="order_views")
    # then
    assert stored_row(order.id) == before
    assert before["payment_status"] == "REFUND_PENDING"


def test_a_row_written_from_a_snapshotted_order_is_the_fold_of_its_stream(
    customer: User, widget: Product, settings: Any
) -> None:
    # given: every command's row is made from the saved aggregate, here restored from
    # snapshots on every load
    settings.EVENTSTORE_SNAPSHOT_EVERY = 2
    order = make_order(customer, lines=[(widget, 2)], to="SHIPPED")
    assert Snapshot.objects.filter(aggregate_id=order.id).exists()
    before = stored_row(order.id)
    # when: the row is lost and the projection folds the whole stream again
    OrderView.objects.filter(pk=order.id).delete()
    get_projection("order_views").project(load(order.id), table="order_views")
    # then
    assert stored_row(order.id) == before


def test_rows_written_from_saved_orders_are_the_fold_of_their_streams(
    customer: User, widget: Product, gadget: Product
) -> None:
    # given: orders taken by the real commands to every status they can reach, each row
    # written from the aggregate its command saved
    as_customer = Actor.customer(customer.pk)
    draft = make_order(customer, lines=[(widget, 1)])
    dispatch(AddOrderItem(order_id=draft.id, actor=as_customer, product_id=gadget.id, quantity=2))
    dispatch(
        ChangeOrderItemQuantity(
            order_id=draft.id, actor=as_customer, product_id=widget.id, quantity=3
        )
    )
    withdrawn = make_order(customer, lines=[(widget, 1)], to="CONFIRMED")
    dispatch(CancelOrder(order_id=withdrawn.id, actor=as_customer, reason="changed_mind"))
    make_order(customer, lines=[(widget, 2)], to="PAID")
    cancelled_paid = make_order(customer, lines=[(gadget, 1)], to="PAID")
    dispatch(CancelOrder(order_id=cancelled_paid.id, actor=BACK_OFFICE, reason="out_of_stock"))
    delivered = make_order(customer, lines=[(widget, 1)], to="SHIPPED")
    dispatch(DeliverOrder(order_id=delivered.id, actor=BACK_OFFICE))
    refunded = make_order(customer, lines=[(gadget, 2)], to="SHIPPED")
    dispatch(RefundOrder(order_id=refunded.id, actor=BACK_OFFICE, reason="damaged"))
    dispatch(
        RecordPaymentRefunded(
            order_id=refunded.id,
            actor=SAGA,
            payment_id=orders.get(refunded.id).payment_id,
            amount=orders.get(refunded.id).total_amount,
        )
    )
    agent = Actor.staff(uuid4(), {"orders.add_order_note"})
    dispatch(AddOrderNote(order_id=refunded.id, actor=agent, author_name="ada", text="ok"))
    # when: every stream folded anew and compared with the stored rows
    verified = verify_projection("order_views")
    # then
    assert verified.ok, verified.drifts
    statuses = set(OrderView.objects.values_list("status", flat=True))
    assert statuses == {"DRAFT", "CANCELLED", "PAID", "DELIVERED", "REFUNDED"}


def _stats(customer: User) -> CustomerOrderStats:
    return CustomerOrderStats.objects.get(customer_id=customer.pk, currency="EUR")


@pytest.mark.django_db(transaction=True)
def test_customer_stats_follow_through_the_catch_up_runner(
    customer: User, widget: Product, gadget: Product
) -> None:
    # given
    make_order(customer, lines=[(widget, 2)], to="PAID")
    cancelled = make_order(customer, lines=[(gadget, 1)], to="CONFIRMED")
    dispatch(
        CancelOrder(order_id=cancelled.id, actor=Actor.customer(customer.pk), reason="changed_mind")
    )
    make_order(customer, lines=[(gadget, 5)])  # a draft is not an order placed
    assert not CustomerOrderStats.objects.exists()  # asynchronous: nothing yet
    # when
    handled = catch_up()
    # then
    assert handled > 0
    stats = _stats(customer)
    assert (stats.orders_placed, stats.orders_paid, stats.orders_cancelled) == (2, 1, 1)
    assert stats.amount_paid == Decimal("25.00")
    assert stats.lifetime_value == Decimal("25.00")
    # and a second pass has nothing to do
    assert run_projection("customer_order_stats") == 0
    assert _stats(customer).orders_placed == 2


@pytest.mark.django_db(transaction=True)
def test_customer_stats_never_count_an_event_twice(customer: User, widget: Product) -> None:
    # given
    order = make_order(customer, lines=[(widget, 4)], to="PAID")
    catch_up()
    # when: the same events are delivered again
    with transaction.atomic():
        get_projection("customer_order_stats").handle(load(order.id))
    # then
    stats = _stats(customer)
    assert (stats.orders_placed, stats.orders_paid, stats.amount_paid) == (1, 1, Decimal("50.00"))


@pytest.mark.django_db(transaction=True)
def test_refunds_lower_the_lifetime_value(customer: User, widget: Product) -> None:
    order = make_order(customer, lines=[(widget, 2)], to="SHIPPED")
    dispatch(RefundOrder(order_id=order.id, actor=BACK_OFFICE, reason="damaged"))
    catch_up()
    stats = _stats(customer)
    assert (stats.amount_paid, stats.amount_refunded) == (Decimal("25.00"), Decimal("25.00"))
    assert stats.lifetime_value == Decimal("0")


@pytest.mark.django_db(transaction=True)
def test_stats_endpoint_shows_customers_their_own(
    customer: User,
    other_customer: User,
    customer_client: APIClient,
    staff_client: APIClient,
    widget: Product,
) -> None:
    make_order(customer, lines=[(widget, 1)], to="PAID")
    make_order(other_customer, lines=[(widget, 2)], to="PAID")
    catch_up()
    own = customer_client.get("/api/v1/orders/customer-stats/").json()["results"]
    assert [(s["customer_id"], s["amount_paid"]) for s in own] == [(str(customer.pk), "12.50")]
    assert own[0]["lifetime_value"] == "12.50"
    everyone = staff_client.get("/api/v1/orders/customer-stats/").json()["results"]
    assert [s["customer_id"] for s in everyone] == [str(other_customer.pk), str(customer.pk)]
    one = staff_client.get(
        "/api/v1/orders/customer-stats/", {"customer_id": str(customer.pk)}
    ).json()["results"]
    assert len(one) == 1


def test_order_views_has_indexes_for_the_list_filters() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'order_views'")
        indexes = " ".join(row[0] for row in cursor.fetchall())
    assert "(customer_id, created_at DESC)" in indexes
    assert "(status, created_at DESC)" in indexes


def test_an_unknown_order_has_no_row() -> None:
    assert not OrderView.objects.filter(pk=uuid4()).exists()


@pytest.mark.django_db(transaction=True)
def test_a_capture_given_back_before_paid_nets_to_zero(customer: User, widget: Product) -> None:
    # given: the saga captured, could not mark the order PAID, refunded and cancelled it
    order = make_order(customer, lines=[(widget, 2)], to="CONFIRMED")
    dispatch(
        RecordPaymentAuthorized(
            order_id=order.id, actor=SAGA, payment_id=uuid4(), amount=order.total_amount
        )
    )
    dispatch(CancelOrder(order_id=order.id, actor=SAGA, reason="payment_failed", refunded=True))
    # when
    catch_up()
    # then the money taken and given back cancel out: never a negative lifetime value
    stats = _stats(customer)
    assert (stats.amount_paid, stats.amount_refunded) == (Decimal("25.00"), Decimal("25.00"))
    assert stats.lifetime_value == Decimal("0.00")


def _an_order_read_out_of_order(customer: User, widget: Product, gadget: Product) -> Order:
    """A draft of 3 widgets (v1-v3) to which one request adds a gadget (v4) while another,
    whose transaction took its id first, then changes that gadget's quantity (v5):
    `read_all` delivers v5, which depends on v4, before v4."""
    order = make_order(customer, lines=[(widget, 3)])
    assert order.version == 3
    owner = Actor.customer(customer.pk)
    append_under_an_older_transaction(
        first=lambda: dispatch(
            AddOrderItem(order_id=order.id, actor=owner, product_id=gadget.pk, quantity=1)
        ),
        then=lambda: dispatch(
            ChangeOrderItemQuantity(
                order_id=order.id, actor=owner, product_id=gadget.pk, quantity=2
            )
        ),
    )
    assert stream_versions_in_read_order(order.id) == [1, 2, 3, 5, 4]
    return orders.get(order.id)


@pytest.mark.django_db(transaction=True)
def test_rebuild_and_verify_fold_an_order_read_out_of_order_by_version(
    customer: User, widget: Product, gadget: Product
) -> None:
    # given
    order = _an_order_read_out_of_order(customer, widget, gadget)
    assert order.total_amount == Decimal("43.90")
    expected = order_view_row(order)
    assert stored_row(order.id)["total_amount"] == Decimal("43.90")
    # when
    verified = verify_projection("order_views", batch_size=2)
    rebuild_projection("order_views", batch_size=2)
    # then
    assert verified.ok, verified.drifts
    row = stored_row(order.id)
    assert row == {k: expected[k] for k in row}
    assert verify_projection("order_views").ok


@pytest.mark.django_db(transaction=True)
def test_customer_stats_count_a_confirmation_whose_transaction_id_has_fewer_digits(
    customer: User, widget: Product
) -> None:
    # given an order created and confirmed by a transaction whose id has one digit fewer
    # than today's (e.g. 9999 against 10325): first as a number, last as text
    older = digits_apart_transaction_id()
    order_id = uuid4()
    for version, event in enumerate(scenario.CONFIRMED, start=1):
        if isinstance(event, OrderCreated):
            event = replace(event, customer_id=customer.pk)
        insert_event_as_transaction(older, order_id, "Order", version, event)
    # and paid by today's transactions
    payment_id = uuid4()
    dispatch(
        RecordPaymentAuthorized(
            order_id=order_id, actor=SAGA, payment_id=payment_id, amount=Decimal("25.00")
        )
    )
    dispatch(MarkOrderPaid(order_id=order_id, actor=SAGA, payment_id=payment_id))
    # when
    catch_up()
    # then the confirmation counts though the payment came first as text
    stats = _stats(customer)
    assert (stats.orders_placed, stats.orders_paid, stats.amount_paid) == (
        1,
        1,
        Decimal("25.00"),
    )


@pytest.mark.django_db(transaction=True)
def test_customer_stats_can_be_verified_and_rebuilt(
    customer: User, other_customer: User, widget: Product, gadget: Product
) -> None:
    # given four orders confirmed: three paid, one cancelled
    for _ in range(3):
        make_order(customer, lines=[(widget, 1)], to="PAID")
    cancelled = make_order(customer, lines=[(gadget, 1)], to="CONFIRMED")
    dispatch(
        CancelOrder(order_id=cancelled.id, actor=Actor.customer(customer.pk), reason="changed_mind")
    )
    make_order(other_customer, lines=[(gadget, 2)], to="PAID")
    catch_up()
    before = _stats(customer)
    assert (before.orders_placed, before.orders_paid, before.orders_cancelled) == (4, 3, 1)
    # when
    verified = verify_projection("customer_order_stats")
    rebuilt = rebuild_projection("customer_order_stats")
    # then
    assert verified.ok, verified.drifts
    assert rebuilt.events > 0
    after = _stats(customer)
    assert [getattr(after, f) for f in _STATS_FIELDS] == [getattr(before, f) for f in _STATS_FIELDS]
    assert verify_projection("customer_order_stats").ok
    assert run_projection("customer_order_stats") == 0


_STATS_FIELDS = (
    "orders_placed",
    "orders_paid",
    "orders_cancelled",
    "amount_paid",
    "amount_refunded",
    "last_order_at",
    "updated_at",
)


def test_every_projection_can_be_rebuilt_and_verified() -> None:
    # when
    # A table-less projection is a consumer that overrides `handle` (the webhook outbox):
    # there is nothing to rebuild or verify. One that folds rows must have its table.
    without_table = [
        name
        for name, p in projection_registry().items()
        if p.table is None and type(p).handle is Projection.handle
    ]
    # then
    assert without_table == []
