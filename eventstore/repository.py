"""Load aggregates from their events and save what they recorded.

orders = Repository(Order)
order = orders.get(order_id)            # latest, from a snapshot when there is one
order = orders.get(order_id, version=3) # time travel: as it was at version 3
order.confirm(...)
orders.save(order)                      # ConcurrencyError if someone saved first
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction

from .aggregate import Aggregate
from .exceptions import AggregateNotFound
from .snapshots import snapshot_save
from .store import RecordedEvent, append, load, load_latest, saving_aggregate

A = TypeVar("A", bound=Aggregate)


class Repository(Generic[A]):
    def __init__(self, aggregate_cls: type[A]) -> None:
        self.aggregate_cls = aggregate_cls

    @property
    def aggregate_type(self) -> str:
        return self.aggregate_cls.aggregate_type

    def get(
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        as_of: datetime | None = None,
    ) -> A:
        """The aggregate as it is now, or as it was at `version` / at time `as_of`.
        Raises AggregateNotFound when the stream does not exist (at that point)."""
        if version is None and as_of is None and self.aggregate_cls.supports_snapshots():
            return self._latest(aggregate_id)
        if version is not None and version < 1:
            raise AggregateNotFound(self.aggregate_type, aggregate_id)
        events = load(aggregate_id, to_version=version, as_of=as_of)
        if not events or events[0].aggregate_type != self.aggregate_type:
            raise AggregateNotFound(self.aggregate_type, aggregate_id)
        if version is not None and events[-1].version < version:
            raise AggregateNotFound(self.aggregate_type, aggregate_id)
        aggregate = self.aggregate_cls.blank(aggregate_id)
        self._apply(aggregate, events)
        return aggregate

    def replay(self, aggregate_id: UUID, events: list[RecordedEvent]) -> A:
        """An aggregate built from the given events only (no snapshot, no database)."""
        aggregate = self.aggregate_cls.blank(aggregate_id)
        self._apply(aggregate, events)
        return aggregate

    def exists(self, aggregate_id: UUID) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM events WHERE aggregate_id = %s "
                "AND version = 1 AND aggregate_type = %s)",
                [aggregate_id, self.aggregate_type],
            )
            row = cursor.fetchone()
        return bool(row and row[0])

    def save(
        self, aggregate: A, *, metadata: Mapping[str, Any] | None = None
    ) -> list[RecordedEvent]:
        """Append the aggregate's pending events at its saved version (ConcurrencyError when
        the stream moved on) and snapshot it each time it crosses a multiple of
        EVENTSTORE_SNAPSHOT_EVERY events."""
        pending = aggregate.pending_events
        if not pending:
            return []
        expected = aggregate.saved_version
        every = settings.EVENTSTORE_SNAPSHOT_EVERY
        snapshot_due = (
            every > 0
            and self.aggregate_cls.supports_snapshots()
            and aggregate.version // every > expected // every
        )
        if not snapshot_due:
            # `append` is atomic by itself; a block of our own would only add a SAVEPOINT
            # and its RELEASE (two round trips) to every command.
            recorded = self._append(aggregate, expected, pending, metadata)
            aggregate.mark_saved()
            return recorded
        with transaction.atomic():  # the events and their snapshot, or neither
            recorded = self._append(aggregate, expected, pending, metadata)
            aggregate.mark_saved()
            snapshot_save(
                aggregate_id=aggregate.id,
                aggregate_type=self.aggregate_type,
                version=aggregate.version,
                schema_version=self.aggregate_cls.snapshot_schema_version,
                state=aggregate.snapshot_state(),
            )
        return recorded

    def _append(
        self,
        aggregate: A,
        expected: int,
        pending: list[Any],
        metadata: Mapping[str, Any] | None,
    ) -> list[RecordedEvent]:
        token = saving_aggregate.set(aggregate)
        try:
            return append(aggregate.id, self.aggregate_type, expected, pending, metadata)
        finally:
            saving_aggregate.reset(token)

    def _latest(self, aggregate_id: UUID) -> A:
        snapshot, events = load_latest(
            aggregate_id,
            aggregate_type=self.aggregate_type,
            snapshot_schema_version=self.aggregate_cls.snapshot_schema_version,
        )
        aggregate = self.aggregate_cls.blank(aggregate_id)
        if snapshot is not None:
            snapshot_version, state = snapshot
            aggregate.restore_snapshot_state(state)
            aggregate.version = snapshot_version
        elif not events or events[0].aggregate_type != self.aggregate_type:
            raise AggregateNotFound(self.aggregate_type, aggregate_id)
        self._apply(aggregate, events)
        return aggregate

    @staticmethod
    def _apply(aggregate: Aggregate, events: list[RecordedEvent]) -> None:
        for recorded in events:
            aggregate.apply_event(recorded.event)
