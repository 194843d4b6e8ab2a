"""The figures that are facts in PostgreSQL, read at scrape time.

Every web process, every pod, answers the same: these are not counted by processes but read
from the read models (operations.selectors) when Prometheus scrapes, so they are exact
however many processes run, and `commerce_order_events_total` on the web's `/metrics` shows
what the workers appended. A scrape during a database outage still answers: the business
figures are left out and `commerce_business_metrics_up` is 0.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from . import selectors
from .webhooks import webhook_metric_families

logger = logging.getLogger(__name__)


class BusinessCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        try:
            families = list(business_metric_families())
        except DatabaseError:
            logger.warning("business metrics left out of this scrape", exc_info=True)
            families = []
        up = GaugeMetricFamily(
            "commerce_business_metrics_up",
            "1 when the figures read from PostgreSQL are in this scrape, 0 when they could not "
            "be read.",
        )
        up.add_metric([], 1 if families else 0)
        yield up
        yield from families


def business_metric_families() -> Iterator[Metric]:
    now = timezone.now()

    events = CounterMetricFamily(
        "commerce_order_events",
        "Events appended to order streams, by type (tallied by the order_event_tallies "
        "projection, so it trails the event store by one catch-up run).",
        labels=["event_type"],
    )
    for event_type, count in sorted(selectors.order_event_counts().items()):
        events.add_metric([event_type], count)
    yield events

    orders = GaugeMetricFamily(
        "commerce_orders", "Orders by current status (order_views).", labels=["status"]
    )
    for status, count in selectors.orders_by_status().items():
        orders.add_metric([status], count)
    yield orders

    sagas = GaugeMetricFamily(
        "commerce_sagas", "Sagas by type and status.", labels=["saga_type", "status"]
    )
    for (saga_type, status), count in sorted(selectors.sagas_by_type_and_status().items()):
        sagas.add_metric([saga_type, status], count)
    yield sagas

    stuck = GaugeMetricFamily(
        "commerce_sagas_stuck",
        "Running or compensating sagas whose current step is past its deadline.",
        labels=["saga_type"],
    )
    for saga_type, count in sorted(selectors.stuck_sagas_by_type(now).items()):
        stuck.add_metric([saga_type], count)
    yield stuck

    lag_events = GaugeMetricFamily(
        "commerce_projection_lag_events",
        f"Events a projection has not folded yet (0 for inline ones; capped at "
        f"{selectors.LAG_COUNT_CAP}).",
        labels=["projection"],
    )
    lag_seconds = GaugeMetricFamily(
        "commerce_projection_lag_seconds",
        "Age of the oldest event a projection has not folded yet (0 when caught up).",
        labels=["projection"],
    )
    for lag in selectors.projection_lags(now):
        lag_events.add_metric([lag.name], lag.events)
        lag_seconds.add_metric([lag.name], lag.seconds)
    yield lag_events
    yield lag_seconds

    yield from webhook_metric_families()
