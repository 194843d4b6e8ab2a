"""Check a projection's stored table against a fresh fold of the event log.

Inside one REPEATABLE READ snapshot (so events and read model are seen at the same
instant) the projection folds every event into a temporary copy of its table; SQL `EXCEPT`
both ways finds the keys whose rows differ, and those rows are compared column by column.
An inline projection must match all events; an asynchronous one the events up to its
checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from .projections import checkpoint_get, forget_table_types, get_projection
from .store import Position, read_events

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
        position: Position = (0, 0)
        events = 0
        while True:
            batch = read_events(
                after=position, limit=batch_size, types=types, committed_only=False, until=until
            )
            if not batch:
                break
            projection.project(batch, table=temp)
            position = batch[-1].position
            events += len(batch)
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
