"""How many SQL statements a reservation and its release cost: counts, not times, pinned so
that they cannot creep back (issue 12). In autocommit each is one statement, which is its
own transaction (no BEGIN/COMMIT round trips); inside a caller's transaction the statement
runs in a savepoint."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from inventory import services
from inventory.models import Reservation, StockMovement
from tests.inventory.conftest import ledger_of, stock_of
from tests.inventory.factories import ProductFactory


@pytest.mark.django_db(transaction=True)
def test_a_one_line_reserve_and_its_release_are_one_statement_each() -> None:
    # given
    mug = ProductFactory(stock=10)
    order_id = uuid.uuid4()
    # when
    with CaptureQueriesContext(connection) as reserving:
        services.stock_reserve(order_id=order_id, lines=[(mug.id, 2)])
    with CaptureQueriesContext(connection) as releasing:
        services.stock_release(order_id=order_id)
    # then
    assert len(reserving.captured_queries) == 1, reserving.captured_queries
    assert len(releasing.captured_queries) == 1, releasing.captured_queries
    assert stock_of(mug.id) == ledger_of(mug.id) == (10, 0)
    assert Reservation.objects.get(order_id=order_id).status == Reservation.Status.RELEASED
    assert StockMovement.objects.filter(reference=str(order_id)).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_multi_line_reserve_is_one_statement_too() -> None:
    # given
    mug, pen, cup = ProductFactory(stock=10), ProductFactory(stock=10), ProductFactory(stock=10)
    order_id = uuid.uuid4()
    # when
    with CaptureQueriesContext(connection) as reserving:
        services.stock_reserve(order_id=order_id, lines=[(mug.id, 1), (pen.id, 2), (cup.id, 3)])
    # then
    assert len(reserving.captured_queries) == 1, reserving.captured_queries
    assert [stock_of(p.id) for p in (mug, pen, cup)] == [(10, 1), (10, 2), (10, 3)]


@pytest.mark.django_db(transaction=True)
def test_inside_a_callers_transaction_each_runs_in_a_savepoint() -> None:
    # given
    mug = ProductFactory(stock=10)
    order_id = uuid.uuid4()
    # when
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        services.stock_reserve(order_id=order_id, lines=[(mug.id, 2)])
        services.stock_release(order_id=order_id)
    # then SAVEPOINT, the statement, RELEASE SAVEPOINT, twice
    assert len(captured.captured_queries) == 6, captured.captured_queries
    assert stock_of(mug.id) == ledger_of(mug.id) == (10, 0)


@pytest.mark.django_db(transaction=True)
def test_a_commit_is_one_statement_and_a_repeat_changes_nothing() -> None:
    # given
    mug, pen = ProductFactory(stock=10), ProductFactory(stock=10)
    order_id = uuid.uuid4()
    services.stock_reserve(order_id=order_id, lines=[(mug.id, 2), (pen.id, 1)])
    # when
    with CaptureQueriesContext(connection) as committing:
        committed = services.stock_commit(order_id=order_id)
    again = services.stock_commit(order_id=order_id)
    # then
    assert len(committing.captured_queries) == 1, committing.captured_queries
    assert [r.status for r in committed] == [Reservation.Status.COMMITTED] * 2
    assert [r.pk for r in again] == [r.pk for r in committed]
    assert stock_of(mug.id) == ledger_of(mug.id) == (8, 0)
    assert stock_of(pen.id) == ledger_of(pen.id) == (9, 0)
