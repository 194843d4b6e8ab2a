"""Reservations expire unless their order is protected (its saga is still running)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from uuid import UUID

import pytest
from django.conf import settings
from django.utils import timezone

from inventory import services, tasks
from inventory.exceptions import ReservationNotActive
from inventory.models import Reservation, StockMovement
from tests.inventory.conftest import stock_of
from tests.inventory.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _reserve(product_id: UUID, quantity: int, *, expired: bool) -> UUID:
    order_id = uuid.uuid4()
    offset = timedelta(minutes=-1 if expired else 10)
    services.stock_reserve(
        order_id=order_id, lines=[(product_id, quantity)], expires_at=timezone.now() + offset
    )
    return order_id


def test_expired_reservations_are_released(assert_ledger_matches: Callable[[UUID], None]) -> None:
    # given one expired and one live reservation
    mug = ProductFactory(stock=10)
    stale = _reserve(mug.id, 3, expired=True)
    live = _reserve(mug.id, 2, expired=False)
    # when
    expired = services.reservations_expire()
    # then
    assert expired == 1
    assert Reservation.objects.get(order_id=stale).status == Reservation.Status.EXPIRED
    assert Reservation.objects.get(order_id=live).status == Reservation.Status.ACTIVE
    assert stock_of(mug.id) == (10, 2)
    movement = StockMovement.objects.get(kind=StockMovement.Kind.EXPIRE)
    assert (movement.reserved_delta, movement.reference) == (-3, str(stale))
    assert_ledger_matches(mug.id)
    # and a second sweep finds nothing
    assert services.reservations_expire() == 0


def test_expiry_uses_the_time_it_is_given() -> None:
    mug = ProductFactory(stock=10)
    _reserve(mug.id, 3, expired=False)
    assert services.reservations_expire(now=timezone.now() + timedelta(hours=1)) == 1
    assert stock_of(mug.id) == (10, 0)


def test_a_protected_order_keeps_its_expired_reservation() -> None:
    # given
    mug = ProductFactory(stock=10)
    running, abandoned = _reserve(mug.id, 3, expired=True), _reserve(mug.id, 1, expired=True)
    # when
    expired = services.reservations_expire(is_protected=lambda order_id: order_id == running)
    # then
    assert expired == 1
    assert Reservation.objects.get(order_id=running).status == Reservation.Status.ACTIVE
    assert Reservation.objects.get(order_id=abandoned).status == Reservation.Status.EXPIRED
    assert stock_of(mug.id) == (10, 3)


@pytest.fixture
def running_orders() -> Iterator[set[UUID]]:
    """Registers a guard the way the sagas app does, and removes it afterwards."""
    orders: set[UUID] = set()

    def saga_still_running(order_id: UUID) -> bool:
        return order_id in orders

    services.reservation_guard_register(saga_still_running)
    yield orders
    services.reservation_guard_unregister(saga_still_running)


def test_registered_guards_protect_orders_in_the_beat_task(running_orders: set[UUID]) -> None:
    # given
    mug = ProductFactory(stock=10)
    running = _reserve(mug.id, 3, expired=True)
    abandoned = _reserve(mug.id, 1, expired=True)
    running_orders.add(running)
    # when the beat task runs
    expired = tasks.expire_reservations()
    # then
    assert expired == 1
    assert Reservation.objects.get(order_id=running).status == Reservation.Status.ACTIVE
    assert Reservation.objects.get(order_id=abandoned).status == Reservation.Status.EXPIRED


def test_the_beat_schedule_runs_the_expiry_task() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["inventory-expire-reservations"]
    assert entry["task"] == tasks.expire_reservations.name


def test_committing_after_expiry_is_refused() -> None:
    # given the reservation expired before payment arrived
    mug = ProductFactory(stock=10)
    order_id = _reserve(mug.id, 3, expired=True)
    services.reservations_expire()
    # when / then the saga is told, and must refund
    with pytest.raises(ReservationNotActive) as raised:
        services.stock_commit(order_id=order_id)
    assert raised.value.statuses == ["EXPIRED"]
    assert stock_of(mug.id) == (10, 0)
