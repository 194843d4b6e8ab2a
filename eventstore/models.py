"""Tables of the event store. The SQL that Django cannot express (the identity column, the
`xid8` default, the append-only trigger) lives in migrations/0001_initial.py; these models
describe the same columns so the admin and ORM reads work. Nothing writes `events` through
the ORM: appends go through `eventstore.store.append`.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import Expression


class Xid8Field(models.Field):
    """A PostgreSQL `xid8` (64-bit transaction id), read and written as a Python int."""

    description = "PostgreSQL 64-bit transaction id"

    def db_type(self, connection: BaseDatabaseWrapper) -> str:
        return "xid8"

    def from_db_value(self, value: Any, expression: Expression, connection: Any) -> int | None:
        return None if value is None else int(value)

    def to_python(self, value: Any) -> int | None:
        return None if value is None else int(value)

    def get_prep_value(self, value: Any) -> Any:
        # As text: PostgreSQL has no cast from bigint to xid8, but an untyped literal works.
        return None if value is None else str(int(value))


class Event(models.Model):
    """One row of the append-only log."""

    id = models.UUIDField(primary_key=True, editable=False)
    aggregate_id = models.UUIDField()
    aggregate_type = models.CharField(max_length=100)
    event_type = models.CharField(max_length=100)
    event_data = models.JSONField()
    version = models.IntegerField()
    created_at = models.DateTimeField()
    metadata = models.JSONField(default=dict)
    global_position = models.BigIntegerField(unique=True, editable=False)
    transaction_id = Xid8Field(editable=False)

    class Meta:
        db_table = "events"
        ordering = ["global_position"]
        # Held by integration accounts and staff who read GET /api/v1/feed/.
        permissions = [("view_feed", "Can read the order event feed")]
        constraints = [
            models.UniqueConstraint(
                fields=["aggregate_id", "version"], name="events_stream_version_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.aggregate_type} {self.aggregate_id} v{self.version} {self.event_type}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("events are append-only: use eventstore.store.append")


class Snapshot(models.Model):
    """The latest snapshot of one aggregate; only a cache of a replay, always rebuildable."""

    aggregate_id = models.UUIDField(primary_key=True)
    aggregate_type = models.CharField(max_length=100)
    version = models.IntegerField()
    schema_version = models.IntegerField(default=1)
    state = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        db_table = "snapshots"

    def __str__(self) -> str:
        return f"{self.aggregate_type} {self.aggregate_id} @ v{self.version}"


class ProjectionCheckpoint(models.Model):
    """How far a projection's catch-up runner has read: the (transaction_id,
    global_position) pair of the last event it handled."""

    name = models.CharField(max_length=100, primary_key=True)
    transaction_id = Xid8Field(default=0)
    global_position = models.BigIntegerField(default=0)
    events_processed = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "projection_checkpoints"

    def __str__(self) -> str:
        return f"{self.name} @ ({self.transaction_id}, {self.global_position})"


class ProjectionRebuild(models.Model):
    """A rebuild in progress: the shadow table it fills and how far it got, so an
    interrupted `rebuild_projections` resumes instead of starting over."""

    name = models.CharField(max_length=100, primary_key=True)
    shadow_table = models.CharField(max_length=200)
    transaction_id = Xid8Field(default=0)
    global_position = models.BigIntegerField(default=0)
    events_processed = models.BigIntegerField(default=0)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "projection_rebuilds"

    def __str__(self) -> str:
        return f"rebuild of {self.name} into {self.shadow_table}"
