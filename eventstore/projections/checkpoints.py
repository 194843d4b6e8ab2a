"""How far each projection has got: its checkpoint in `projection_checkpoints` (the
position of the last event its runner handled), its lag, and a rebuild in progress."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from ..store import Position
from .base import Projection
from .registry import projection_registry


@dataclass(frozen=True)
class Checkpoint:
    name: str
    position: Position
    events_processed: int
    updated_at: datetime | None


def checkpoint_get(name: str) -> Checkpoint:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT transaction_id::text, global_position, events_processed, updated_at "
            "FROM projection_checkpoints WHERE name = %s",
            [name],
        )
        row = cursor.fetchone()
    if row is None:
        return Checkpoint(name=name, position=(0, 0), events_processed=0, updated_at=None)
    return Checkpoint(
        name=name,
        position=(int(row[0]), int(row[1])),
        events_processed=int(row[2]),
        updated_at=row[3],
    )


def checkpoint_set(name: str, position: Position, *, processed: int, absolute: bool) -> None:
    """Store the checkpoint; `processed` is added to the running count unless `absolute`."""
    count = (
        "EXCLUDED.events_processed"
        if absolute
        else ("projection_checkpoints.events_processed + EXCLUDED.events_processed")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO projection_checkpoints "
            "(name, transaction_id, global_position, events_processed, updated_at) "
            "VALUES (%s, %s::text::xid8, %s, %s, clock_timestamp()) "
            "ON CONFLICT (name) DO UPDATE SET transaction_id = EXCLUDED.transaction_id, "
            "global_position = EXCLUDED.global_position, "
            f"events_processed = {count}, updated_at = EXCLUDED.updated_at",
            [name, str(position[0]), position[1], processed],
        )


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    inline: bool
    table: str | None
    checkpoint: Checkpoint
    lag: int
    rebuild_position: Position | None


def projection_lag(projection: Projection, checkpoint: Checkpoint) -> int:
    """Events the read model has not seen: 0 for inline projections (they commit with the
    events); for asynchronous ones, matching events after the checkpoint."""
    if projection.inline:
        return 0
    sql = (
        "SELECT count(*) FROM events WHERE (transaction_id, global_position) > (%s::text::xid8, %s)"
    )
    params: list[Any] = [str(checkpoint.position[0]), checkpoint.position[1]]
    if projection.event_types:
        sql += " AND event_type = ANY(%s::text[])"
        params.append(sorted(projection.event_types))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def projection_status() -> list[ProjectionStatus]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, transaction_id::text, global_position FROM projection_rebuilds"
        )
        rebuilds: Mapping[str, Position] = {r[0]: (int(r[1]), int(r[2])) for r in cursor.fetchall()}
    statuses = []
    for name, projection in projection_registry().items():
        checkpoint = checkpoint_get(name)
        statuses.append(
            ProjectionStatus(
                name=name,
                inline=projection.inline,
                table=projection.table,
                checkpoint=checkpoint,
                lag=projection_lag(projection, checkpoint),
                rebuild_position=rebuilds.get(name),
            )
        )
    return statuses
