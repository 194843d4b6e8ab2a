"""Release, commit, return, restock and adjust: idempotent, ledgered, guarded."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from uuid import UUID

import pytest

from commerce_project.errors import InvalidInput
from inventory import services
from inventory.exceptions import ProductNotFound, ReservationNotActive
from inventory.models import Reservation, StockMovement
from tests.inventory.conftest import stock_of
from tests.inventory.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_release_gives_the_units_back_once(assert_ledger_matches: Callable[[UUID], None]) -> None:
    # given
    mug = ProductFactory(stock=10)
    order_id = uuid.uuid4()
    services.stock_reserve(order_id=order_id, lines=[(mug.id, 4)])
    # when
    first = services.stock_release(order_id=order_id)
    second = services.stock_release(order_id=order_id)
    # then
    assert [r.status for r in first] == [Reservation.Status.RELEASED]
    assert second == []
    assert stock_of(mug.id) == (10, 0)
    assert StockMovement.objects.filter(kind=StockMovement.Kind.RELEASE).count() == 1
    assert_ledger_matches(mug.id)


def test_release_leaves_other_orders_alone() -> None:
    # given
    mug = ProductFactory(stock=10)
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    services.stock_reserve(order_id=mine, lines=[(mug.id, 2)])
    services.stock_reserve(order_id=theirs, lines=[(mug.id, 3)])
    # when
    services.stock_release(order_id=mine)
    # then
    assert stock_of(mug.id) == (10, 3)
    assert Reservation.objects.get(order_id=theirs).status == Reservation.Status.ACTIVE


def test_commit_takes_the_units_off_the_shelf_once(
    assert_ledger_matches: Callable[[UUID], None],
) -> None:
    # given
    mug, pen = ProductFactory(stock=10), ProductFactory(stock=3)
    order_id = uuid.uuid4()
    services.stock_reserve(order_id=order_id, lines=[(mug.id, 4), (pen.id, 3)])
    # when
    first = services.stock_commit(order_id=order_id)
    second = services.stock_commit(order_id=order_id)
    # then
    assert {r.status for r in first} == {r.status for r in second} == {"COMMITTED"}
    assert stock_of(mug.id) == (6, 0)
    assert stock_of(pen.id) == (0, 0)
    assert StockMovement.objects.filter(kind=StockMovement.Kind.COMMIT).count() == 2
    assert_ledger_matches(mug.id)
    assert_ledger_matches(pen.id)


def test_committing_a_released_reservation_is_an_error_for_the_caller() -> None:
    # given
    mug = ProductFactory(stock=10)
    order_id = uuid.uuid4()
    services.stock_reserve(order_id=order_id, lines=[(mug.id, 4)])
    services.stock_release(order_id=order_id)
    # when
    with pytest.raises(ReservationNotActive) as raised:
        services.stock_commit(order_id=order_id)
    # then
    assert raised.value.statuses == ["RELEASED"]
    assert stock_of(mug.id) == (10, 0)


def test_committing_an_order_that_reserved_nothing_is_an_error() -> None:
    with pytest.raises(ReservationNotActive) as raised:
        services.stock_commit(order_id=uuid.uuid4())
    assert raised.value.statuses == []


def test_release_after_commit_changes_nothing() -> None:
    # given
    mug = ProductFactory(stock=10)
    order_id = uuid.uuid4()
    services.stock_reserve(order_id=order_id, lines=[(mug.id, 4)])
    services.stock_commit(order_id=order_id)
    # when
    released = services.stock_release(order_id=order_id)
    # then
    assert released == []
    assert stock_of(mug.id) == (6, 0)


def test_return_puts_committed_units_back_once(
    assert_ledger_matches: Callable[[UUID], None],
) -> None:
    # given a paid order
    mug = ProductFactory(stock=10)
    order_id = uuid.uuid4()
    services.stock_reserve(order_id=order_id, lines=[(mug.id, 4)])
    services.stock_commit(order_id=order_id)
    # when staff cancel it
    first = services.stock_return(order_id=order_id)
    second = services.stock_return(order_id=order_id)
    # then
    assert [r.status for r in first] == ["RETURNED"]
    assert second == []
    assert stock_of(mug.id) == (10, 0)
    assert_ledger_matches(mug.id)


def test_return_leaves_an_unpaid_reservation_alone() -> None:
    mug = ProductFactory(stock=10)
    order_id = uuid.uuid4()
    services.stock_reserve(order_id=order_id, lines=[(mug.id, 4)])
    assert services.stock_return(order_id=order_id) == []
    assert stock_of(mug.id) == (10, 4)


def test_restock_adds_units_with_actor_and_reason(
    assert_ledger_matches: Callable[[UUID], None],
) -> None:
    # given
    mug = ProductFactory(stock=1)
    # when
    item = services.stock_restock(product_id=mug.id, quantity=5, actor="alice", reason="PO-7")
    # then
    assert (item.on_hand, item.reserved) == (6, 0)
    movement = StockMovement.objects.filter(product=mug).first()
    assert movement is not None
    assert (movement.kind, movement.on_hand_delta, movement.actor, movement.reason) == (
        "RESTOCK",
        5,
        "alice",
        "PO-7",
    )
    assert_ledger_matches(mug.id)


@pytest.mark.parametrize("quantity", [0, -3])
def test_restock_needs_a_positive_quantity(quantity: int) -> None:
    mug = ProductFactory(stock=1)
    with pytest.raises(InvalidInput) as raised:
        services.stock_restock(product_id=mug.id, quantity=quantity, actor="a", reason="")
    assert "quantity" in raised.value.extra["errors"]


def test_restock_of_an_unknown_product_is_not_found() -> None:
    with pytest.raises(ProductNotFound):
        services.stock_restock(product_id=uuid.uuid4(), quantity=1, actor="a", reason="")


def test_adjust_corrects_on_hand(assert_ledger_matches: Callable[[UUID], None]) -> None:
    mug = ProductFactory(stock=10)
    item = services.stock_adjust(product_id=mug.id, delta=-3, actor="bob", reason="damaged")
    assert (item.on_hand, item.reserved) == (7, 0)
    assert_ledger_matches(mug.id)


def test_adjust_cannot_take_away_reserved_units() -> None:
    # given four of ten units reserved
    mug = ProductFactory(stock=10)
    services.stock_reserve(order_id=uuid.uuid4(), lines=[(mug.id, 4)])
    # when
    with pytest.raises(InvalidInput) as raised:
        services.stock_adjust(product_id=mug.id, delta=-7, actor="bob", reason="count")
    # then
    assert "delta" in raised.value.extra["errors"]
    assert stock_of(mug.id) == (10, 4)


def test_adjust_needs_a_reason() -> None:
    mug = ProductFactory(stock=10)
    with pytest.raises(InvalidInput):
        services.stock_adjust(product_id=mug.id, delta=1, actor="bob", reason=" ")
