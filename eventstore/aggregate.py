"""The aggregate base: state changes only by applying events, and commands record events
through `record`, which applies them and queues them for the repository to append.

It is a mixin without `__init__`, so an aggregate may also be an unmanaged Django model
(orders use one to get django-fsm transitions); build instances with `blank(id)`.

Every class that sets `aggregate_type` is registered under it, so operator tools
(`replay_events`) can rebuild any stream without knowing the app it belongs to.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self
from uuid import UUID

from .events import DomainEvent

_registry: dict[str, type[Aggregate]] = {}


class Aggregate:
    aggregate_type: ClassVar[str]
    # Bump when snapshot_state() changes shape: older snapshots are then ignored (replayed).
    snapshot_schema_version: ClassVar[int] = 1

    id: UUID
    version: int
    _pending: list[DomainEvent]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        aggregate_type = cls.__dict__.get("aggregate_type")
        if isinstance(aggregate_type, str):
            existing = _registry.get(aggregate_type)
            if existing is not None and existing.__qualname__ != cls.__qualname__:
                raise TypeError(f"aggregate type {aggregate_type!r} is already used by {existing}")
            _registry[aggregate_type] = cls

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

    @classmethod
    def supports_snapshots(cls) -> bool:
        return cls.snapshot_state is not Aggregate.snapshot_state


def aggregate_class(aggregate_type: str) -> type[Aggregate] | None:
    """The class registered for `aggregate_type`, None when no loaded app defines it."""
    return _registry.get(aggregate_type)


def aggregate_registry() -> dict[str, type[Aggregate]]:
    return dict(_registry)
