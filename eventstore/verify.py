"""Check a projection's stored table against a fresh fold of the event log.

Inside one REPEATABLE READ snapshot (so events and read model are seen at the same
instant) every stream is read whole, in version order, straight from the events table, and
folded with the projection's `apply` into a temporary copy of its table; SQL `EXCEPT` both
ways finds the keys whose rows differ, and those rows are compared column by column.

The fold is deliberately not the one it checks: no `read_all` order, no batches, no
skipping by row version, no filling of missing versions, only each stream from its first
event on. A bug in how the runner, a rebuild or an inline projection orders events shows
up as drift instead of being repeated here.

An inline projection must match all events. An asynchronous one must match, for each
stream, the versions up to the last one at or before its checkpoint (the runner folds by
version, so it has also applied earlier versions positioned after the checkpoint).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from .projections import Projection, Row, checkpoint_get, forget_table_types, get_projection
from .store import Position, RecordedEvent, load_ranges

_REPORT_LIMIT = 1000


@dataclass(frozen=True)
class RowDrift:
    key: Any
    kind: str  # "missing" (expected, not stored) | "unexpected" (stored only) | "different"
    columns: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # column: (stored, expected)


@dataclass(frozen=True)
class VerifyResult:
    name: str
    table: str
    events: int
    rows_expected: int
    rows_stored: int
    drift_count: int
    drifts: list[RowDrift]

    @property
    def ok(self) -> bool:
        return self.drift_count == 0


def verify_projection(name: str, *, batch_size: int = 5000) -> VerifyResult:
    projection = get_projection(name)
    table = projection.require_table()
    temp = f"{table}__verify"[:63]
    qn = connection.ops.quote_name
    key = qn(projection.key)
    types = sorted(projection.event_types) or None
    forget_table_types()
    # Inside a caller's transaction the isolation level is already fixed.
    own_transaction = not connection.in_atomic_block
    with transaction.atomic():
        with connection.cursor() as cursor:
            if own_transaction:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{qn(temp)}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {qn(temp)} (LIKE {qn(table)} INCLUDING ALL) ON COMMIT DROP"
            )
        until: Position | None = None if projection.inline else checkpoint_get(name).position
        events = 0
        for streams in _stream_chunks(_stream_ends(types, until), batch_size):
            stream_events = load_ranges(
                [(aggregate_id, 1, last) for aggregate_id, last in streams], types=types
            )
            projection.upsert(temp, _fold_streams(projection, stream_events))
            events += len(stream_events)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT (SELECT count(*) FROM {qn(temp)}), (SELECT count(*) FROM {qn(table)})"
            )
            counts = cursor.fetchone()
            assert counts is not None
            cursor.execute(
                f"""
                SELECT DISTINCT d.{key} FROM (
                    (SELECT * FROM {qn(temp)} EXCEPT SELECT * FROM {qn(table)})
                    UNION ALL
                    (SELECT * FROM {qn(table)} EXCEPT SELECT * FROM {qn(temp)})
                ) d ORDER BY 1
                """
            )
            keys = [r[0] for r in cursor.fetchall()]
        shown = keys[:_REPORT_LIMIT]
        stored = projection.fetch_rows(table, shown)
        expected = projection.fetch_rows(temp, shown)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{qn(temp)}")
    forget_table_types()
    return VerifyResult(
        name=name,
        table=table,
        events=events,
        rows_expected=int(counts[0]),
        rows_stored=int(counts[1]),
        drift_count=len(keys),
        drifts=[_drift(k, stored.get(k), expected.get(k)) for k in shown],
    )


def _stream_ends(types: list[str] | None, until: Position | None) -> list[tuple[Any, int]]:
    """Every stream with events of `types` and the last version to fold: all of them, or
    with `until` the last one positioned at or before it."""
    sql = "SELECT aggregate_id, max(version) FROM events WHERE true"
    params: list[Any] = []
    if types:
        sql += " AND event_type = ANY(%s::text[])"
        params.append(types)
    if until is not None:
        sql += " AND (transaction_id, global_position) <= (%s::text::xid8, %s)"
        params += [str(until[0]), until[1]]
    sql += " GROUP BY aggregate_id ORDER BY aggregate_id"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(r[0], int(r[1])) for r in cursor.fetchall()]


def _stream_chunks(
    streams: list[tuple[Any, int]], batch_size: int
) -> Iterator[list[tuple[Any, int]]]:
    """Whole streams, about `batch_size` events at a time."""
    chunk: list[tuple[Any, int]] = []
    size = 0
    for stream in streams:
        chunk.append(stream)
        size += stream[1]
        if size >= batch_size:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _fold_streams(projection: Projection, events: list[RecordedEvent]) -> list[Row]:
    """Each stream's events (in version order) applied one after the other from no row."""
    rows: dict[Any, Row] = {}
    for event in events:
        key = projection.row_key(event)
        row = projection.apply(rows.get(key), event)
        if row is not None:
            row[projection.version_column] = event.version
            rows[key] = row
    return list(rows.values())


def _drift(key: Any, stored: dict[str, Any] | None, expected: dict[str, Any] | None) -> RowDrift:
    if stored is None:
        return RowDrift(key=key, kind="missing")
    if expected is None:
        return RowDrift(key=key, kind="unexpected")
    columns = {
        column: (stored.get(column), expected.get(column))
        for column in expected
        if stored.get(column) != expected.get(column)
    }
    return RowDrift(key=key, kind="different", columns=columns)
