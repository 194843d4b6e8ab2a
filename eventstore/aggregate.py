"""The aggregate base: state changes only by applying events, and commands record events
through `record`, which applies them and queues them for the repository to append.

It is a mixin without `__init__`, so an aggregate may also be an unmanaged Django model
(orders use one to get django-fsm transitions); build instances with `blank(id)`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self
from uuid import UUID

from .events import DomainEvent


class Aggregate:
    aggregate_type: ClassVar[str]

    id: UUID
    version: int
    _pending: list[DomainEvent]

    @classmethod
    def blank(cls, aggregate_id: UUID) -> Self:
        aggregate = cls()
        aggregate.id = aggregate_id
        aggregate.version = 0
        aggregate._pending = []
        return aggregate

    def apply(self, event: DomainEvent) -> None:
        """Change state for one event. No checks here: the event already happened."""
        raise NotImplementedError

    def record(self, event: DomainEvent) -> None:
        self.apply_event(event)
        self._pending.append(event)

    def apply_event(self, event: DomainEvent) -> None:
        self.apply(event)
        self.version += 1

    @property
    def pending_events(self) -> list[DomainEvent]:
        return list(self._pending)

    def mark_saved(self) -> None:
        self._pending = []

    @property
    def saved_version(self) -> int:
        """The stream version this aggregate was loaded at: the expected version on save."""
        return self.version - len(self._pending)

    # Snapshots: subclasses that want them return and accept plain JSON-able state.
    def snapshot_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def restore_snapshot_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError
