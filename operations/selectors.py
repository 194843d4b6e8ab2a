"""The figures operators look at, read from the read models with cheap aggregate queries:
never a scan of the `events` table (order events are counted by their own projection; the
lag of an asynchronous projection is counted from its checkpoint on, and capped).

Both `/metrics` (operations.collector) and the Operations admin page read them here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import Count, F, Q
from django.db.models.functions import TruncHour

from eventstore.projections import checkpoint_get, projection_registry
from inventory.models import StockItem
from orders.domain import ORDER_EVENT_TYPES, ORDER_STATUSES
from orders.models import OrderView
from sagas.domain import ACTIVE_STATUSES, SagaStatus
from sagas.models import SagaInstance
from sagas.registry import registered_saga_types

# Counting the events behind an asynchronous projection stops here: past it, the figure
# says "at least this many", which is all an alert needs, and the query stays cheap.
LAG_COUNT_CAP = 100_000

ORDER_STATUS_NAMES: tuple[str, ...] = tuple(s.value for s in ORDER_STATUSES)
SAGA_STATUS_NAMES: tuple[str, ...] = tuple(s.value for s in SagaStatus)


def order_event_counts() -> dict[str, int]:
    """Events per type across the order streams, every order event type present (zero
    before its first): the per-order tallies of the `order_event_tallies` projection summed,
    one pass over a table of one row per order (never the events table)."""
    counts = dict.fromkeys(ORDER_EVENT_TYPES, 0)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tally.key, sum(tally.value::bigint) "
            "FROM order_event_tallies, jsonb_each_text(counts) AS tally GROUP BY tally.key"
        )
        counts.update({event_type: int(n) for event_type, n in cursor.fetchall()})
    return counts


def orders_by_status() -> dict[str, int]:
    """Orders per status, every status present (zero when none)."""
    counted = dict(OrderView.objects.order_by().values_list("status").annotate(n=Count("order_id")))
    return {status: int(counted.get(status, 0)) for status in ORDER_STATUS_NAMES}


def sagas_by_type_and_status() -> dict[tuple[str, str], int]:
    """Sagas per (type, status): every registered type with every status, plus whatever
    else the table holds."""
    found = {
        (saga_type, status): int(n)
        for saga_type, status, n in SagaInstance.objects.order_by()
        .values_list("saga_type", "status")
        .annotate(n=Count("saga_id"))
    }
    for saga_type in registered_saga_types():
        for status in SAGA_STATUS_NAMES:
            found.setdefault((saga_type, status), 0)
    return found


def stuck_sagas_query(now: datetime) -> Q:
    """Active sagas whose current step is past its deadline: the engine should already have
    given up on the step and compensated, so something (workers, beat, the broker) is not
    running."""
    return Q(status__in=[s.value for s in ACTIVE_STATUSES], step_deadline_at__lt=now)


def stuck_sagas_by_type(now: datetime) -> dict[str, int]:
    found = {
        saga_type: int(n)
        for saga_type, n in SagaInstance.objects.order_by()
        .filter(stuck_sagas_query(now))
        .values_list("saga_type")
        .annotate(n=Count("saga_id"))
    }
    for saga_type in registered_saga_types():
        found.setdefault(saga_type, 0)
    return found


@dataclass(frozen=True)
class ProjectionLag:
    name: str
    inline: bool
    events: int  # events not yet folded (capped at LAG_COUNT_CAP)
    seconds: float  # age of the oldest of them; 0 when there is none


def projection_lags(now: datetime) -> list[ProjectionLag]:
    """How far each projection trails the event store. Inline projections commit with the
    events, so they never trail; an asynchronous one trails by the events after its
    checkpoint (read through the index on the read order, from the checkpoint on)."""
    lags = []
    for name, projection in projection_registry().items():
        if projection.inline:
            lags.append(ProjectionLag(name, True, 0, 0.0))
            continue
        position = checkpoint_get(name).position
        where = "(transaction_id, global_position) > (%s::text::xid8, %s)"
        params: list[Any] = [str(position[0]), position[1]]
        if projection.event_types:
            where += " AND event_type = ANY(%s::text[])"
            params.append(sorted(projection.event_types))
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*), min(created_at) FROM (SELECT created_at FROM events "
                f"WHERE {where} ORDER BY transaction_id, global_position LIMIT %s) AS behind",
                [*params, LAG_COUNT_CAP],
            )
            count, oldest = cursor.fetchone() or (0, None)
        seconds = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
        lags.append(ProjectionLag(name, False, int(count), seconds))
    return lags


@dataclass(frozen=True)
class HourlyOrders:
    hour: datetime
    by_status: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


def orders_per_hour(now: datetime, *, hours: int = 48) -> list[HourlyOrders]:
    """Orders created in each of the last `hours` hours (oldest first), by current status;
    an index range on `order_views.created_at`."""
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(hours=hours)
    slots = {start + timedelta(hours=i): dict.fromkeys(ORDER_STATUS_NAMES, 0) for i in range(hours)}
    rows = (
        OrderView.objects.order_by()
        .filter(created_at__gte=start, created_at__lt=end)
        .annotate(hour=TruncHour("created_at"))
        .values_list("hour", "status")
        .annotate(n=Count("order_id"))
    )
    for hour, status, n in rows:
        if hour in slots:
            slots[hour][status] = slots[hour].get(status, 0) + int(n)
    return [HourlyOrders(hour, by_status) for hour, by_status in slots.items()]


def saga_outcomes(since: datetime) -> dict[str, int]:
    """Sagas started since `since`, by status (every status present)."""
    counted = dict(
        SagaInstance.objects.order_by()
        .filter(created_at__gte=since)
        .values_list("status")
        .annotate(n=Count("saga_id"))
    )
    return {status: int(counted.get(status, 0)) for status in SAGA_STATUS_NAMES}


def saga_failure_reasons(since: datetime) -> list[tuple[str, int]]:
    """Why sagas started since `since` compensated or failed, most frequent first."""
    return [
        (reason, int(n))
        for reason, n in SagaInstance.objects.order_by()
        .filter(created_at__gte=since)
        .exclude(failure_reason="")
        .values_list("failure_reason")
        .annotate(n=Count("saga_id"))
        .order_by("-n", "failure_reason")
    ]


@dataclass(frozen=True)
class SagaAttention:
    saga_id: UUID
    saga_type: str
    status: str
    current_step: str
    failure_reason: str
    last_error: str
    since: datetime
    stuck: bool


def sagas_needing_attention(now: datetime, *, limit: int = 50) -> list[SagaAttention]:
    """FAILED sagas (waiting for staff) and stuck ones, newest change first."""
    stuck = stuck_sagas_query(now)
    rows = (
        SagaInstance.objects.filter(Q(status=SagaStatus.FAILED.value) | stuck)
        .order_by("-updated_at")
        .values_list(
            "saga_id",
            "saga_type",
            "status",
            "current_step",
            "failure_reason",
            "last_error",
            "updated_at",
            "step_deadline_at",
        )[:limit]
    )
    return [
        SagaAttention(
            saga_id=saga_id,
            saga_type=saga_type,
            status=status,
            current_step=step,
            failure_reason=reason,
            last_error=error,
            since=updated_at,
            stuck=status != SagaStatus.FAILED.value and deadline is not None and deadline < now,
        )
        for saga_id, saga_type, status, step, reason, error, updated_at, deadline in rows
    ]


@dataclass(frozen=True)
class LowStock:
    product_id: UUID
    sku: str
    name: str
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def low_stock(threshold: int, *, limit: int = 50) -> list[LowStock]:
    """Active products with at most `threshold` units available, fewest first."""
    rows = (
        StockItem.objects.filter(product__active=True)
        .annotate(units_left=F("on_hand") - F("reserved"))
        .filter(units_left__lte=threshold)
        .order_by("units_left", "product__sku")
        .values_list("product_id", "product__sku", "product__name", "on_hand", "reserved")[:limit]
    )
    return [LowStock(*row) for row in rows]
