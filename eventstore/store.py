"""Append to and read from the `events` table.

`append` writes all events of one command with a single INSERT numbered from the expected
version. The UNIQUE(aggregate_id, version) constraint is the lock: of two writers at the
same version the second fails (`ConcurrencyError`), and the same statement checks that the
stream had reached the expected version at all. The INSERT runs in
`transaction.atomic()`, so inside an outer transaction it is a savepoint and a conflict
leaves the outer transaction usable; directly in the command bus's own block it needs none
(see `command_block`).

`read_all` orders by (transaction_id, global_position) and returns only events of
transactions below the snapshot's xmin. Positions are taken at INSERT time but become
visible at COMMIT, so a reader ordering by position alone could pass over an event whose
transaction commits late; every transaction below xmin has finished, so nothing can still
appear behind the checkpoint. The order is the xid8 column's own (numeric) order.

That order is not each stream's version order: a transaction takes its id at its first
write, may then load a stream another transaction appends to and commits first, and append
the next version under its older id, so `read_all` delivers v5 before v4. Whatever folds a
stream folds by version and reads a missing range with `load_ranges`.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import IntegrityError, connection, transaction

from .events import DomainEvent, deserialize_event, serialize_event
from .exceptions import ConcurrencyError
from .metadata import current_metadata
from .prepared import fetch_prepared
from .signals import events_appended

Position = tuple[int, int]
"""(transaction_id, global_position): where a reader of all events has got to."""

_STREAM_VERSION_CONSTRAINT = "events_stream_version_key"

# The atomic block the command bus runs the current command in (eventstore.commands). A
# failed append there ends the whole command (the bus rolls the block back, and retries it
# on a conflict), so the append needs no savepoint of its own: one SAVEPOINT and one RELEASE
# fewer per command. Anywhere else (an append in a block of its caller's) it keeps one, so
# that a conflict leaves the caller's transaction usable.
command_block: ContextVar[transaction.Atomic | None] = ContextVar("command_block", default=None)


# The aggregate whose events `Repository.save` is appending, while it appends: an inline
# projection that can derive its row from the aggregate's state (Projection.row_of) writes
# that row instead of reading the stored one and folding the new events into it. The
# aggregate loaded for the command is the stream's truth at its version; the row is only
# ever a fold of the same events.
saving_aggregate: ContextVar[Any] = ContextVar("saving_aggregate", default=None)


def _append_block() -> transaction.Atomic:
    blocks = connection.atomic_blocks
    directly_in_command = bool(blocks) and blocks[-1] is command_block.get()
    return transaction.atomic(savepoint=not directly_in_command)


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


# The transaction id is read as text (psycopg has no xid8 loader) under another name: an
# output column named transaction_id would make `ORDER BY transaction_id` sort the text, and
# '1404' < '802'.
SELECT_COLUMNS = (
    "id, aggregate_id, aggregate_type, event_type, event_data, version, metadata, created_at, "
    "global_position, transaction_id::text AS transaction_id_text"
)
_LOG_ORDER = " ORDER BY events.transaction_id, events.global_position"
_E_COLUMNS = (
    "e.id, e.aggregate_id, e.aggregate_type, e.event_type, e.event_data, e.version, e.metadata, "
    "e.created_at, e.global_position, e.transaction_id::text"
)

_INSERT_COLUMNS = (
    "INSERT INTO events (id, aggregate_id, aggregate_type, event_type, event_data, metadata, "
    "version, created_at) "
)
# RETURNING also reports whether the stream had reached expected_version. With the UNIQUE
# constraint that makes the check complete: a stream that moved on fails the insert, one that
# never got that far (it would leave a gap) fails the check, and append raises before its
# transaction can commit.
# Events commit durably whoever appends them: a saga step runs with synchronous_commit off
# (sagas/services.py), but an event is visible to the feed and webhooks the moment it
# commits, and one lost in a crash after a consumer read it could never be taken back
# (and its transaction id could be handed out again). So the appending transaction turns
# it back on for itself (SET LOCAL, in the statement: no extra round trip); a session
# already at "on" or stronger keeps its own.
_DURABLE_COMMIT = (
    "set_config('synchronous_commit', CASE current_setting('synchronous_commit') "
    "WHEN 'off' THEN 'on' WHEN 'local' THEN 'on' "
    "ELSE current_setting('synchronous_commit') END, true)"
)
_RETURNING = (
    " RETURNING version, global_position, transaction_id::text, created_at, "
    "%s = 0 OR EXISTS (SELECT FROM events p WHERE p.aggregate_id = %s AND p.version = %s), "
    + _DURABLE_COMMIT
)
# Small batches as VALUES rows, large ones as arrays: both plan and bind fastest that way.
_VALUES_UP_TO = 10
_VALUES_ROW = "(%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, statement_timestamp())"
_UNNEST = (
    _INSERT_COLUMNS + "SELECT e.id, %s, %s, e.event_type, e.data::jsonb, e.metadata::jsonb, "
    "%s + e.n, statement_timestamp() "
    "FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::text[]) "
    "WITH ORDINALITY AS e(id, event_type, data, metadata, n) ORDER BY e.n" + _RETURNING
)


@functools.cache
def _values_sql(count: int) -> str:
    return _INSERT_COLUMNS + "VALUES " + ", ".join([_VALUES_ROW] * count) + _RETURNING


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
    data = [_dumps(serialize_event(e)) for e in events]
    encoded_metadata: dict[int, str] = {}
    for m in metadatas:
        if m["schema_version"] not in encoded_metadata:
            encoded_metadata[m["schema_version"]] = _dumps(m)
    guard = [expected_version, aggregate_id, expected_version]
    params: list[Any]
    if len(events) <= _VALUES_UP_TO:
        sql = _values_sql(len(events))
        params = []
        for n, event in enumerate(events):
            params += [
                ids[n],
                aggregate_id,
                aggregate_type,
                event.event_type,
                data[n],
                encoded_metadata[event.schema_version],
                expected_version + n + 1,
            ]
        params += guard
    else:
        sql = _UNNEST
        params = [
            aggregate_id,
            aggregate_type,
            expected_version,
            ids,
            [e.event_type for e in events],
            data,
            [encoded_metadata[e.schema_version] for e in events],
            *guard,
        ]
    try:
        with _append_block():
            rows = sorted(fetch_prepared(sql, params))
            if not rows[0][4]:
                raise ConcurrencyError(aggregate_id, expected_version)
            recorded = [
                RecordedEvent(
                    id=ids[n],
                    aggregate_id=aggregate_id,
                    aggregate_type=aggregate_type,
                    event_type=event.event_type,
                    version=expected_version + n + 1,
                    event=event,
                    metadata=metadatas[n],
                    created_at=row[3],
                    global_position=row[1],
                    transaction_id=int(row[2]),
                )
                for n, (event, row) in enumerate(zip(events, rows, strict=True))
            ]
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
    sql = f"SELECT {SELECT_COLUMNS} FROM events WHERE aggregate_id = %s AND version >= %s"
    params: list[Any] = [aggregate_id, from_version]
    if to_version is not None:
        sql += " AND version <= %s"
        params.append(to_version)
    if as_of is not None:
        sql += " AND created_at <= %s"
        params.append(as_of)
    sql += " ORDER BY version"
    return [_recorded(row) for row in fetch_prepared(sql, params)]


def load_latest(
    aggregate_id: UUID, *, aggregate_type: str, snapshot_schema_version: int
) -> tuple[tuple[int, dict[str, Any]] | None, list[RecordedEvent]]:
    """The stream's latest snapshot of this aggregate type and snapshot schema, as
    (version, state), and the events after it — or no snapshot and the whole stream — in
    one statement: the load behind every command. The state travels on the first row only."""
    sql = (
        "SELECT s.version, CASE WHEN e.version IS NULL OR e.version = coalesce(s.version, 0) + 1 "
        f"THEN s.state END, {_E_COLUMNS} FROM (VALUES (1)) AS one(x) "
        "LEFT JOIN snapshots s ON s.aggregate_id = %s AND s.aggregate_type = %s "
        "AND s.schema_version = %s "
        "LEFT JOIN events e ON e.aggregate_id = %s AND e.version > coalesce(s.version, 0) "
        "ORDER BY e.version"
    )
    rows = fetch_prepared(
        sql, [aggregate_id, aggregate_type, snapshot_schema_version, aggregate_id]
    )
    snapshot: tuple[int, dict[str, Any]] | None = None
    if rows and rows[0][0] is not None:
        snapshot = (int(rows[0][0]), _loads(rows[0][1]))
    events = [_recorded(row[2:]) for row in rows if row[2] is not None]
    return snapshot, events


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
        f"SELECT {SELECT_COLUMNS} FROM events "
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
    sql += _LOG_ORDER + " LIMIT %s"
    params.append(limit)
    return [_recorded(row) for row in fetch_prepared(sql, params)]


def load_ranges(
    ranges: Iterable[tuple[UUID, int, int]], *, types: Collection[str] | None = None
) -> list[RecordedEvent]:
    """The events of several streams, each from a first to a last version (inclusive), in
    (aggregate_id, version) order, in one statement: how a fold fills the versions a batch
    of `read_all` is missing, and how verify reads whole streams."""
    streams: list[UUID] = []
    firsts: list[int] = []
    lasts: list[int] = []
    for aggregate_id, first, last in ranges:
        streams.append(aggregate_id)
        firsts.append(first)
        lasts.append(last)
    if not streams:
        return []
    sql = (
        f"SELECT {SELECT_COLUMNS} FROM events "
        "JOIN unnest(%b::uuid[], %b::int[], %b::int[]) AS r(stream, from_version, to_version) "
        "ON aggregate_id = r.stream AND version BETWEEN r.from_version AND r.to_version"
    )
    params: list[Any] = [streams, firsts, lasts]
    if types:
        sql += " WHERE event_type = ANY(%s::text[])"
        params.append(sorted(types))
    sql += " ORDER BY aggregate_id, version"
    return [_recorded(row) for row in fetch_prepared(sql, params)]


def load_page_without(
    aggregate_id: UUID, *, exclude_types: Collection[str], offset: int, limit: int
) -> list[RecordedEvent]:
    """A page of one stream in version order, leaving out events of `exclude_types` (what
    a reader may not see): `offset` and `limit` count the events that remain."""
    sql = (
        f"SELECT {SELECT_COLUMNS} FROM events WHERE aggregate_id = %s "
        "AND NOT event_type = ANY(%s::text[]) ORDER BY version OFFSET %s LIMIT %s"
    )
    return [
        _recorded(row)
        for row in fetch_prepared(sql, [aggregate_id, sorted(exclude_types), offset, limit])
    ]


def count_without(aggregate_id: UUID, *, exclude_types: Collection[str]) -> int:
    """How many events of one stream are not of `exclude_types`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM events WHERE aggregate_id = %s "
            "AND NOT event_type = ANY(%s::text[])",
            [aggregate_id, sorted(exclude_types)],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def stream_version(aggregate_id: UUID) -> int:
    """The version of the stream's last event, 0 when it has none."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(max(version), 0) FROM events WHERE aggregate_id = %s", [aggregate_id]
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def recorded_from_row(row: Sequence[Any]) -> RecordedEvent:
    """A RecordedEvent from a row selected as SELECT_COLUMNS."""
    return _recorded(row)


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


_dumps = json.JSONEncoder(separators=(",", ":")).encode


def _loads(value: Any) -> Any:
    # Django registers a text loader for jsonb (JSONField decodes it itself).
    return json.loads(value) if isinstance(value, str | bytes) else value


def _is_stream_version_conflict(exc: IntegrityError) -> bool:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == _STREAM_VERSION_CONSTRAINT
