"""stock_reserve: all-or-nothing, idempotent per order, never oversold."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from uuid import UUID

import pytest
from django.db import connection

from commerce_project.api.errors import http_status
from commerce_project.errors import InvalidInput
from inventory import services
from inventory.exceptions import OutOfStock, ReservationNotActive, UnknownProduct
from inventory.models import Reservation, StockMovement
from tests.inventory.conftest import stock_of
from tests.inventory.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_reserve_holds_units_and_writes_the_ledger(
    assert_ledger_matches: Callable[[UUID], None],
) -> None:
    # given
    mug, pen = ProductFactory(stock=10), ProductFactory(stock=5)
    order_id = uuid.uuid4()
    # when
    reservations = services.stock_reserve(order_id=order_id, lines=[(mug.id, 3), (pen.id, 5)])
    # then
    assert {(r.product_id, r.quantity, r.status) for r in reservations} == {
        (mug.id, 3, Reservation.Status.ACTIVE),
        (pen.id, 5, Reservation.Status.ACTIVE),
    }
    assert stock_of(mug.id) == (10, 3)
    assert stock_of(pen.id) == (5, 5)
    movement = StockMovement.objects.get(product=mug, kind=StockMovement.Kind.RESERVE)
    assert (movement.on_hand_delta, movement.reserved_delta) == (0, 3)
    assert movement.reference == str(order_id)
    assert_ledger_matches(mug.id)
    assert_ledger_matches(pen.id)


def test_reserve_expires_after_the_configured_ttl() -> None:
    # given
    mug = ProductFactory(stock=1)
    # when
    [reservation] = services.stock_reserve(order_id=uuid.uuid4(), lines={mug.id: 1})
    # then
    held_for = reservation.expires_at - reservation.created_at
    assert abs(held_for.total_seconds() - 15 * 60) < 5


def test_reserve_is_all_or_nothing_and_names_every_short_line() -> None:
    # given
    plenty, scarce, empty = ProductFactory(stock=10), ProductFactory(stock=2), ProductFactory()
    # when
    with pytest.raises(OutOfStock) as raised:
        services.stock_reserve(
            order_id=uuid.uuid4(), lines=[(plenty.id, 1), (scarce.id, 3), (empty.id, 1)]
        )
    # then nothing is held, and the error says what was short and what is left
    assert stock_of(plenty.id) == (10, 0)
    assert stock_of(scarce.id) == (2, 0)
    assert not Reservation.objects.exists()
    short = {line.product_id: (line.requested, line.available) for line in raised.value.lines}
    assert short == {scarce.id: (3, 2), empty.id: (1, 0)}
    assert http_status(raised.value) == 409  # a conflict at the HTTP edge
    assert raised.value.type == "out-of-stock"


def test_reserving_again_for_the_same_order_returns_the_first_reservations() -> None:
    # given
    mug = ProductFactory(stock=10)
    order_id = uuid.uuid4()
    first = services.stock_reserve(order_id=order_id, lines=[(mug.id, 4)])
    # when the saga step runs again (even with different lines)
    again = services.stock_reserve(order_id=order_id, lines=[(mug.id, 4)])
    other = services.stock_reserve(order_id=order_id, lines=[(mug.id, 9)])
    # then the units are held once
    assert [r.pk for r in again] == [r.pk for r in first] == [r.pk for r in other]
    assert stock_of(mug.id) == (10, 4)
    assert StockMovement.objects.filter(kind=StockMovement.Kind.RESERVE).count() == 1


def test_duplicate_lines_are_summed() -> None:
    # given
    mug = ProductFactory(stock=10)
    # when
    [reservation] = services.stock_reserve(order_id=uuid.uuid4(), lines=[(mug.id, 2), (mug.id, 3)])
    # then
    assert reservation.quantity == 5
    assert stock_of(mug.id) == (10, 5)


@pytest.mark.parametrize("quantity", [0, -1, True])
def test_a_line_needs_a_positive_quantity(quantity: int) -> None:
    mug = ProductFactory(stock=10)
    with pytest.raises(InvalidInput, match="positive integer"):
        services.stock_reserve(order_id=uuid.uuid4(), lines=[(mug.id, quantity)])


def test_an_unknown_product_is_rejected_and_nothing_is_held() -> None:
    # given
    mug = ProductFactory(stock=10)
    unknown = uuid.uuid4()
    # when
    with pytest.raises(UnknownProduct) as raised:
        services.stock_reserve(order_id=uuid.uuid4(), lines=[(mug.id, 1), (unknown, 1)])
    # then
    assert raised.value.product_ids == [unknown]
    assert stock_of(mug.id) == (10, 0)


def test_reserving_for_an_order_whose_reservation_expired_is_refused() -> None:
    # given
    mug = ProductFactory(stock=10)
    order_id = uuid.uuid4()
    services.stock_reserve(order_id=order_id, lines=[(mug.id, 1)])
    services.stock_release(order_id=order_id)
    # when / then
    with pytest.raises(ReservationNotActive):
        services.stock_reserve(order_id=order_id, lines=[(mug.id, 1)])
    assert stock_of(mug.id) == (10, 0)


def _race(workers: int, work: Callable[[int], object]) -> list[object]:
    """Runs `work(i)` in `workers` real threads, each with its own database connection,
    released together from a barrier; returns each result or raised exception."""
    barrier = threading.Barrier(workers)
    results: list[object] = [None] * workers

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_buyers_for_ten_units_exactly_ten_succeed(
    assert_ledger_matches: Callable[[UUID], None],
) -> None:
    # given ten units, and a second product every buyer also wants one of
    limited = ProductFactory(stock=10)
    plenty = ProductFactory(stock=1000)
    orders = [uuid.uuid4() for _ in range(50)]

    # when fifty buyers race through stock_reserve, each on its own connection
    results = _race(
        50,
        lambda i: services.stock_reserve(
            order_id=orders[i], lines=[(plenty.id, 1), (limited.id, 1)]
        ),
    )

    # then exactly ten got both lines, forty were told it is out of stock
    won = [r for r in results if isinstance(r, list)]
    lost = [r for r in results if isinstance(r, OutOfStock)]
    assert len(won) == 10, results
    assert len(lost) == 40, [r for r in results if not isinstance(r, list | OutOfStock)]
    assert all(line.available == 0 for exc in lost for line in exc.lines)
    assert stock_of(limited.id) == (10, 10)
    assert stock_of(plenty.id) == (1000, 10)  # the losers' other line was not held
    assert Reservation.objects.filter(product=limited).count() == 10
    assert_ledger_matches(limited.id)
    assert_ledger_matches(plenty.id)


@pytest.mark.django_db(transaction=True)
def test_concurrent_repeats_of_one_order_hold_the_stock_once() -> None:
    # given
    mug = ProductFactory(stock=100)
    order_id = uuid.uuid4()
    # when the same reservation step runs eight times at once
    results = _race(8, lambda _: services.stock_reserve(order_id=order_id, lines=[(mug.id, 5)]))
    # then every call answers with the same reservation and five units are held
    assert all(isinstance(r, list) for r in results), results
    assert {r[0].pk for r in results if isinstance(r, list)} == {
        Reservation.objects.get(order_id=order_id).pk
    }
    assert stock_of(mug.id) == (100, 5)


@pytest.mark.django_db(transaction=True)
def test_overlapping_multi_line_reservations_and_releases_never_deadlock(
    assert_ledger_matches: Callable[[UUID], None],
) -> None:
    # given four products and sixteen buyers, each wanting three of them
    products = [ProductFactory(stock=1000) for _ in range(4)]
    ids = [product.id for product in products]

    def buy_and_cancel(index: int) -> int:
        wanted = [ids[(index + k) % 4] for k in range(3)][:: 1 if index % 2 else -1]
        for _ in range(10):
            order_id = uuid.uuid4()
            services.stock_reserve(order_id=order_id, lines=[(pid, 1) for pid in wanted])
            services.stock_release(order_id=order_id)
        return index

    # when they reserve and release at once, lines given in different orders
    results = _race(16, buy_and_cancel)

    # then nobody failed (a deadlock would be an error here) and nothing is left held
    assert results == list(range(16)), results
    for product_id in ids:
        assert stock_of(product_id) == (1000, 0)
        assert_ledger_matches(product_id)
