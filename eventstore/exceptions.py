from __future__ import annotations

from uuid import UUID

from commerce_project.errors import ConflictError, NotFound


class ConcurrencyError(ConflictError):
    """The stream moved on since it was read: someone else appended first."""

    type = "concurrency-conflict"
    title = "Concurrent modification"

    def __init__(self, aggregate_id: UUID, expected_version: int) -> None:
        super().__init__(
            f"Aggregate {aggregate_id} changed since version {expected_version}; "
            "reload and try again.",
            aggregate_id=str(aggregate_id),
            expected_version=expected_version,
        )
        self.aggregate_id = aggregate_id
        self.expected_version = expected_version


class AggregateNotFound(NotFound):
    def __init__(self, aggregate_type: str, aggregate_id: UUID) -> None:
        super().__init__(f"{aggregate_type} {aggregate_id} does not exist.")
        self.aggregate_id = aggregate_id


class UnknownEventType(LookupError):
    def __init__(self, event_type: str) -> None:
        super().__init__(f"unknown event type {event_type!r}: no DomainEvent class registers it")
        self.event_type = event_type


class UnknownEventVersion(LookupError):
    def __init__(self, event_type: str, stored_version: int, current_version: int) -> None:
        super().__init__(
            f"cannot load {event_type!r} schema version {stored_version}: the current version "
            f"is {current_version} and no upcaster chain leads there"
        )
        self.event_type = event_type
        self.stored_version = stored_version


class UnknownProjection(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        listing = ", ".join(sorted(known)) or "none are registered"
        super().__init__(f"unknown projection {name!r} (known: {listing})")
        self.name = name


class ProjectionNotRebuildable(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"projection {name!r} declares no `table`, so it cannot be rebuilt or verified"
        )
        self.name = name


class RebuildLockTimeout(RuntimeError):
    """The swap could not lock the read model in time; the shadow table is kept."""


class RebuildInProgress(RuntimeError):
    """Another process is rebuilding the same projection."""
