"""Snapshots (table `snapshots`): the state of an aggregate at some version, so a long stream
loads from there instead of from its first event. Only the latest snapshot of an aggregate
is kept; it is a cache of a replay, and `replay_events --all --check` proves it equal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from .events import to_json_value
from .prepared import execute_prepared, fetch_prepared


@dataclass(frozen=True)
class StoredSnapshot:
    aggregate_id: UUID
    aggregate_type: str
    version: int
    schema_version: int
    state: dict[str, Any]


def snapshot_load(aggregate_id: UUID) -> StoredSnapshot | None:
    rows = fetch_prepared(
        "SELECT aggregate_type, version, schema_version, state FROM snapshots "
        "WHERE aggregate_id = %s",
        [aggregate_id],
    )
    if not rows:
        return None
    aggregate_type, version, schema_version, state = rows[0]
    return StoredSnapshot(
        aggregate_id=aggregate_id,
        aggregate_type=aggregate_type,
        version=version,
        schema_version=schema_version,
        state=json.loads(state) if isinstance(state, str | bytes) else state,
    )


def snapshot_save(
    *,
    aggregate_id: UUID,
    aggregate_type: str,
    version: int,
    schema_version: int,
    state: dict[str, Any],
) -> None:
    """Store the snapshot unless a newer one is already there."""
    execute_prepared(
        """
            INSERT INTO snapshots AS s
                (aggregate_id, aggregate_type, version, schema_version, state, created_at)
            VALUES (%s, %s, %s, %s, %s::jsonb, clock_timestamp())
            ON CONFLICT (aggregate_id) DO UPDATE
                SET version = EXCLUDED.version, schema_version = EXCLUDED.schema_version,
                    state = EXCLUDED.state, created_at = EXCLUDED.created_at
                WHERE s.version < EXCLUDED.version OR s.schema_version <> EXCLUDED.schema_version
            """,
        [
            aggregate_id,
            aggregate_type,
            version,
            schema_version,
            json.dumps(to_json_value(state), separators=(",", ":")),
        ],
    )
