"""Figures read from PostgreSQL at scrape time move when things happen."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from eventstore.projections import run_projection
from operations.selectors import projection_lags
from orders.domain import saga_id_for
from sagas.models import SagaInstance
from tests.operations.scrape import scrape, value
from tests.orders.conftest import make_order
from tests.orders.factories import ProductFactory

# The catch-up runner reads committed transactions only.
pytestmark = pytest.mark.django_db(transaction=True)


def counts_caught_up() -> None:
    """Run the order_event_tallies projection until nothing is behind it (another session
    on the server may hold the xmin back for a moment, so poll)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        run_projection("order_event_tallies")
        lag = {lag.name: lag for lag in projection_lags(timezone.now())}["order_event_tallies"]
        if lag.events == 0:
            return
        time.sleep(0.02)
    raise AssertionError("order_event_tallies did not catch up")


def test_an_order_paid_moves_the_event_counter_and_the_status_gauge(customer: User) -> None:
    # given the figures before
    counts_caught_up()
    before = scrape()
    paid_before = value(before, "commerce_order_events_total", {"event_type": "OrderPaid"}) or 0
    # when an order is created, confirmed and paid
    order = make_order(customer, lines=[(ProductFactory(), 1)], to="PAID")
    # then the order gauge reads it at once from the read model
    pending = scrape()
    assert value(pending, "commerce_orders", {"status": "PAID"}) == 1
    assert value(pending, "commerce_orders", {"status": "DELIVERED"}) == 0
    # and the count projection is behind by this order's events until its runner passes
    counts = {"projection": "order_event_tallies"}
    assert (value(pending, "commerce_projection_lag_events", counts) or 0) >= 4
    counts_caught_up()
    after = scrape()
    assert value(after, "commerce_order_events_total", {"event_type": "OrderPaid"}) == (
        paid_before + 1
    )
    assert value(after, "commerce_projection_lag_events", counts) == 0
    assert value(after, "commerce_projection_lag_seconds", counts) == 0
    # and the saga the confirmation started is counted by type and status
    saga = SagaInstance.objects.get(pk=saga_id_for(order.id))
    assert value(after, "commerce_sagas", {"saga_type": saga.saga_type, "status": saga.status}) == 1


def test_a_saga_past_its_step_deadline_shows_as_stuck(customer: User) -> None:
    # given a confirmed order whose saga is running and within its deadline
    order = make_order(customer, lines=[(ProductFactory(), 1)], to="CONFIRMED")
    saga = SagaInstance.objects.get(pk=saga_id_for(order.id))
    labels = {"saga_type": saga.saga_type}
    assert value(scrape(), "commerce_sagas_stuck", labels) == 0
    # when its step deadline passes without the engine moving it on (no worker running)
    SagaInstance.objects.filter(pk=saga.pk).update(
        step_deadline_at=timezone.now() - timedelta(minutes=1)
    )
    # then the scrape shows it stuck
    assert value(scrape(), "commerce_sagas_stuck", labels) == 1
