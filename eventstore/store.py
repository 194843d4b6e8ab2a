"""Append to and read from the `events` table.

`append` writes all events of one command with a single INSERT that also checks the
expected version, and the UNIQUE(aggregate_id, version) constraint settles races between
writers that both passed the check: the loser gets `ConcurrencyError`. The INSERT runs in
`transaction.atomic()`, so inside an outer transaction it is a savepoint and a conflict
leaves the outer transaction usable.

`read_all` orders by (transaction_id, global_position) and returns only events of
transactions below the snapshot's xmin. Positions are taken at INSERT time but become
visible at COMMIT, so a reader ordering by position alone could pass over an event whose
transaction commits late; every transaction below xmin has finished, so nothing can still
appear behind the checkpoint.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import IntegrityError, connection, transaction

from .events import DomainEvent, deserialize_event, serialize_event
from .exceptions import ConcurrencyError
from .metadata import current_metadata
from .signals import events_appended

Position = tuple[int, int]
"""(transaction_id, global_position): where a reader of all events has got to."""

_STREAM_VERSION_CONSTRAINT = "events_stream_version_key"


@dataclass(frozen=True)
class RecordedEvent:
    id: UUID
    aggregate_id: UUID
    aggregate_type: str
    event_type: str
    version: int
    event: DomainEvent
    metadata: dict[str, Any]
    created_at: datetime
    global_position: int
    transaction_id: int

    @property
    def position(self) -> Position:
        return (self.transaction_id, self.global_position)


_COLUMNS = (
    "id, aggregate_id, aggregate_type, event_type, event_data, version, metadata, created_at, "
    "global_position, transaction_id::text"
)

# One statement: unnest the batch, number it from expected_version + 1, and insert only if
# the stream is still at expected_version. One clock reading stamps the whole batch.
_APPEND_SQL = """
INSERT INTO events
    (id, aggregate_id, aggregate_type, event_type, event_data, metadata, version, created_at)
SELECT e.id, %(aggregate_id)s, %(aggregate_type)s, e.event_type, e.data::jsonb,
       e.metadata::jsonb, %(expected)s + e.n, (SELECT clock_timestamp())
FROM unnest(%(ids)s::uuid[], %(types)s::text[], %(data)s::text[], %(metadata)s::text[])
     WITH ORDINALITY AS e(id, event_type, data, metadata, n)
WHERE (SELECT coalesce(max(version), 0) FROM events WHERE aggregate_id = %(aggregate_id)s)
      = %(expected)s
RETURNING id, version, created_at, global_position, transaction_id::text
"""


def append(
    aggregate_id: UUID,
    aggregate_type: str,
    expected_version: int,
    events: Sequence[DomainEvent],
    metadata: Mapping[str, Any] | None = None,
) -> list[RecordedEvent]:
    """Append `events` to the stream if it is still at `expected_version`, else raise
    `ConcurrencyError`. Sends `events_appended` inside the same transaction."""
    if not events:
        return []
    base_metadata = {**current_metadata(), **(metadata or {})}
    ids = [uuid.uuid4() for _ in events]
    metadatas = [{**base_metadata, "schema_version": e.schema_version} for e in events]
    params: dict[str, Any] = {
        "aggregate_id": aggregate_id,
        "aggregate_type": aggregate_type,
        "expected": expected_version,
        "ids": ids,
        "types": [e.event_type for e in events],
        "data": [_dumps(serialize_event(e)) for e in events],
        "metadata": [_dumps(m) for m in metadatas],
    }
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(_APPEND_SQL, params)
                rows = cursor.fetchall()
            if not rows:
                raise ConcurrencyError(aggregate_id, expected_version)
            by_id = {row[0]: row for row in rows}
            recorded = []
            for event_id, event, event_metadata in zip(ids, events, metadatas, strict=True):
                _, version, created_at, global_position, transaction_id = by_id[event_id]
                recorded.append(
                    RecordedEvent(
                        id=event_id,
                        aggregate_id=aggregate_id,
                        aggregate_type=aggregate_type,
                        event_type=event.event_type,
                        version=version,
                        event=event,
                        metadata=event_metadata,
                        created_at=created_at,
                        global_position=global_position,
                        transaction_id=int(transaction_id),
                    )
                )
            events_appended.send(sender=aggregate_type, events=recorded)
    except IntegrityError as exc:
        if _is_stream_version_conflict(exc):
            raise ConcurrencyError(aggregate_id, expected_version) from exc
        raise
    return recorded


def load(
    aggregate_id: UUID,
    *,
    from_version: int = 1,
    to_version: int | None = None,
    as_of: datetime | None = None,
) -> list[RecordedEvent]:
    """The events of one stream in version order, optionally cut at a version or a time."""
    sql = f"SELECT {_COLUMNS} FROM events WHERE aggregate_id = %s AND version >= %s"
    params: list[Any] = [aggregate_id, from_version]
    if to_version is not None:
        sql += " AND version <= %s"
        params.append(to_version)
    if as_of is not None:
        sql += " AND created_at <= %s"
        params.append(as_of)
    sql += " ORDER BY version"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [_recorded(row) for row in cursor.fetchall()]


def read_all(
    after: Position = (0, 0),
    limit: int = 1000,
    types: Collection[str] | None = None,
) -> list[RecordedEvent]:
    """Up to `limit` events after the position `after`, in (transaction_id,
    global_position) order, from finished transactions only (see the module docstring)."""
    return read_events(after=after, limit=limit, types=types, committed_only=True)


def read_events(
    *,
    after: Position = (0, 0),
    limit: int = 1000,
    types: Collection[str] | None = None,
    committed_only: bool = True,
    until: Position | None = None,
) -> list[RecordedEvent]:
    """`read_all` with two switches for maintenance work: `committed_only=False` drops the
    xmin guard (right only while writers are locked out, or inside one REPEATABLE READ
    snapshot), and `until` stops at a position (inclusive)."""
    sql = (
        f"SELECT {_COLUMNS} FROM events "
        "WHERE (transaction_id, global_position) > (%s::text::xid8, %s)"
    )
    params: list[Any] = [str(after[0]), after[1]]
    if committed_only:
        sql += " AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())"
    if until is not None:
        sql += " AND (transaction_id, global_position) <= (%s::text::xid8, %s)"
        params += [str(until[0]), until[1]]
    if types:
        sql += " AND event_type = ANY(%s::text[])"
        params.append(list(types))
    sql += " ORDER BY transaction_id, global_position LIMIT %s"
    params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [_recorded(row) for row in cursor.fetchall()]


def stream_version(aggregate_id: UUID) -> int:
    """The version of the stream's last event, 0 when it has none."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(max(version), 0) FROM events WHERE aggregate_id = %s", [aggregate_id]
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def stream_type(aggregate_id: UUID) -> str | None:
    """The aggregate type of a stream, None when it has no events."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT aggregate_type FROM events WHERE aggregate_id = %s AND version = 1",
            [aggregate_id],
        )
        row = cursor.fetchone()
    return str(row[0]) if row else None


def recorded_from_row(row: Sequence[Any]) -> RecordedEvent:
    """A RecordedEvent from a row selected as `eventstore.store.SELECT_COLUMNS`."""
    return _recorded(row)


SELECT_COLUMNS = _COLUMNS


def _recorded(row: Sequence[Any]) -> RecordedEvent:
    (
        event_id,
        aggregate_id,
        aggregate_type,
        event_type,
        event_data,
        version,
        metadata,
        created_at,
        global_position,
        transaction_id,
    ) = row
    data = _loads(event_data)
    meta = _loads(metadata)
    return RecordedEvent(
        id=event_id,
        aggregate_id=aggregate_id,
        aggregate_type=aggregate_type,
        event_type=event_type,
        version=version,
        event=deserialize_event(event_type, int(meta.get("schema_version", 1)), data),
        metadata=meta,
        created_at=created_at,
        global_position=global_position,
        transaction_id=int(transaction_id),
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _loads(value: Any) -> Any:
    # Django registers a text loader for jsonb (JSONField decodes it itself).
    return json.loads(value) if isinstance(value, str | bytes) else value


def _is_stream_version_conflict(exc: IntegrityError) -> bool:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == _STREAM_VERSION_CONSTRAINT


def iter_all(
    *, batch_size: int = 1000, types: Collection[str] | None = None
) -> Iterable[RecordedEvent]:
    """Every committed event in read_all order, fetched in batches."""
    after: Position = (0, 0)
    while True:
        batch = read_all(after, batch_size, types)
        yield from batch
        if len(batch) < batch_size:
            return
        after = batch[-1].position
