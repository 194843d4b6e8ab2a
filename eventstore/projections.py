"""Projections: read models computed from events.

A projection that owns a table (everything `rebuild_projections` and `verify_projections`
can work on) declares the table and folds events into rows, one row per stream:

    @register_projection
    class OrderViewProjection(Projection):
        name = "order_views"                  # projection name (checkpoints, commands)
        table = "order_views"                 # the read-model table it owns
        key = "id"                            # unique column holding row_key(event)
        version_column = "version"            # stream version of the last applied event
        inline = True                         # run inside the appending transaction
        event_types = frozenset({"OrderCreated", "OrderConfirmed", ...})  # empty = all

        def apply(self, row: dict | None, event: RecordedEvent) -> dict | None:
            e = event.event
            if isinstance(e, OrderCreated):
                return {"id": event.aggregate_id, "status": "DRAFT", "items": [], ...}
            if row is None:
                return None                   # nothing to update (not created yet)
            if isinstance(e, OrderConfirmed):
                row["status"] = "CONFIRMED"
            return row

The contract of `apply`:
- `row` is the current row as a dict of column name to value, read from the target table
  (jsonb columns decoded; other values as psycopg returns them: UUID, Decimal, datetime), or
  None when the key has no row yet. Return the new row as a dict (mutating and returning
  `row` is fine), or None to leave it untouched.
- `project` stamps `row[version_column] = event.version` on the returned row, skips events
  at or below the row's version (so re-delivery is harmless) and writes with
  `upsert_guarded`, whose `WHERE version < EXCLUDED.version` never moves a row backwards.
- It must be deterministic (take times from `event.created_at`, never from the clock),
  because `verify_projections` compares a fresh fold with the stored table.
- `row_key(event)` picks the row (default: `event.aggregate_id`) and must return the Python
  type the key column reads back as (UUID for a uuid column).
- Keys and values must be columns of `table`; dict/list values of json/jsonb columns are
  encoded as JSON (Decimal, UUID, datetime as strings). Columns the projection never sets
  take their database defaults.

`project` folds each stream by version: `read_all` order is not version order (a
transaction with an older id can append v5 after v4 committed), so a batch is grouped by
stream and sorted, and when a stream's next event is not `row.version + 1` the missing
versions are read from the stream (`load_ranges`, one statement per batch), never folded out
of order or skipped.

The same fold serves the write paths: `handle(events)` (inline, on `events_appended`, and
the catch-up runner) calls `project(events, table=self.table)`; a rebuild calls
`project(events, table="<table>__rebuild")` on the shadow copy and then swaps it in.
`verify_projections` deliberately folds on its own (whole streams from the events table,
`apply` only) into a temporary copy and diffs it against the table.
The table itself is an ordinary managed Django model (`db_table = table`, a unique `key`
column, an integer `version_column`, jsonb for JSON) that only the projection writes.

A projection without a table may override `handle` to do anything idempotent; it then runs
inline or from its checkpoint like any other, but cannot be rebuilt or verified.

Asynchronous projections (`inline = False`) are advanced by `run_projection(name)`, which
the Celery task `eventstore.tasks.run_async_projections` calls on a beat schedule: it reads
from its checkpoint in `projection_checkpoints` and writes the read model and the new
checkpoint in one transaction, holding an advisory lock so one runner works per projection.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from django.db import connection, transaction

from .exceptions import ProjectionNotRebuildable, UnknownProjection
from .prepared import execute_prepared, fetch_prepared_described
from .store import Position, RecordedEvent, load_ranges, read_all

Row = dict[str, Any]

# pg_advisory_xact_lock(classid, objid): the first key keeps our locks apart from others'.
_LOCK_CLASS = 0x45565354  # "EVST"


class Projection:
    name: ClassVar[str]
    event_types: ClassVar[frozenset[str]] = frozenset()
    inline: ClassVar[bool] = True
    table: ClassVar[str | None] = None
    key: ClassVar[str] = "id"
    version_column: ClassVar[str] = "version"

    # --- what a projection implements

    def apply(self, row: Row | None, event: RecordedEvent) -> Row | None:
        """Fold one event into its row; see the module docstring."""
        raise NotImplementedError

    def row_key(self, event: RecordedEvent) -> Any:
        return event.aggregate_id

    # --- provided

    def handle(self, events: Sequence[RecordedEvent]) -> None:
        """Bring the read model up to date with `events` (inline and catch-up)."""
        self.project(events, table=self.require_table())

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types

    def require_table(self) -> str:
        if self.table is None:
            raise ProjectionNotRebuildable(self.name)
        return self.table

    def project(self, events: Iterable[RecordedEvent], *, table: str) -> int:
        """Fold `events` into the rows of `table`, each stream by version, and upsert the
        changed rows in one statement. Returns the number of rows written."""
        relevant = [e for e in events if self.wants(e.event_type)]
        if not relevant:
            return 0
        rows = self.fetch_rows(table, {self.row_key(e) for e in relevant})
        changed: dict[Any, Row] = {}
        version_column = self.version_column
        for event in self.in_version_order(relevant, rows):
            key = self.row_key(event)
            row = rows.get(key)
            if row is not None and (row.get(version_column) or 0) >= event.version:
                continue
            new_row = self.apply(row, event)
            if new_row is None:
                continue
            new_row[version_column] = event.version
            rows[key] = new_row
            changed[key] = new_row
        return self.upsert(table, list(changed.values()))

    def in_version_order(
        self, events: Sequence[RecordedEvent], rows: Mapping[Any, Row]
    ) -> list[RecordedEvent]:
        """`events` stream by stream in version order, with the versions between a row's
        version and the batch's next event read from the stream. `read_all` order is not
        version order (see eventstore.store), so a batch can hold v5 without v4, or v5
        before v4; folding either way would corrupt the row."""
        streams: dict[UUID, dict[int, RecordedEvent]] = {}
        for event in events:
            streams.setdefault(event.aggregate_id, {})[event.version] = event
        missing: list[tuple[UUID, int, int]] = []
        for aggregate_id, stream in streams.items():
            row = rows.get(self.row_key(next(iter(stream.values()))))
            folded = (row.get(self.version_column) or 0) if row is not None else 0
            for version in sorted(stream):
                if version > folded + 1:
                    missing.append((aggregate_id, folded + 1, version - 1))
                folded = max(folded, version)
        for event in load_ranges(missing, types=self.event_types or None):
            streams[event.aggregate_id].setdefault(event.version, event)
        return [stream[v] for stream in streams.values() for v in sorted(stream)]

    def fetch_rows(self, table: str, keys: Collection[Any]) -> dict[Any, Row]:
        if not keys:
            return {}
        info = table_info(table)
        qn = connection.ops.quote_name
        names, rows = fetch_prepared_described(
            f"SELECT {info.select_list} FROM {qn(table)} "
            f"WHERE {qn(self.key)} = ANY(%b::{info.types[self.key]}[])",
            [list(keys)],
        )
        key_index = names.index(self.key)
        return {row[key_index]: dict(zip(names, row, strict=True)) for row in rows}

    def rows(self, table: str | None = None) -> list[Row]:
        """Every stored row of the read model (or of `table`), ordered by key."""
        target = table or self.require_table()
        qn = connection.ops.quote_name
        names, rows = fetch_prepared_described(
            f"SELECT {table_info(target).select_list} FROM {qn(target)} ORDER BY {qn(self.key)}",
            [],
        )
        return [dict(zip(names, row, strict=True)) for row in rows]

    def upsert(self, table: str, rows: Sequence[Row]) -> int:
        return upsert_guarded(table, rows, self.key, self.version_column)


P = TypeVar("P", bound=type[Projection])

_registry: dict[str, Projection] = {}


def register_projection(projection_cls: P) -> P:
    """Register a projection class (usable as a decorator); one instance serves all calls."""
    name = projection_cls.name
    existing = _registry.get(name)
    if existing is not None and type(existing).__qualname__ != projection_cls.__qualname__:
        raise TypeError(f"projection name {name!r} is already used by {type(existing)}")
    _registry[name] = projection_cls()
    return projection_cls


def unregister_projection(name: str) -> None:
    _registry.pop(name, None)


def projection_registry() -> dict[str, Projection]:
    """Registered projections by name, in registration order."""
    return dict(_registry)


def get_projection(name: str) -> Projection:
    try:
        return _registry[name]
    except KeyError:
        raise UnknownProjection(name, list(_registry)) from None


def run_inline_projections(sender: str, events: Sequence[RecordedEvent], **_: Any) -> None:
    """`events_appended` receiver: inline projections write inside the appending
    transaction, so a rolled-back append leaves no trace in any read model."""
    for projection in _registry.values():
        if projection.inline:
            relevant = [e for e in events if projection.wants(e.event_type)]
            if relevant:
                projection.handle(relevant)


# --- guarded upserts


def upsert_guarded(
    table: str, rows: Sequence[Row], key: str, version_column: str = "version"
) -> int:
    """INSERT the rows, or UPDATE the existing row with the same `key` only where the stored
    version is lower (`... ON CONFLICT (key) DO UPDATE ... WHERE version < EXCLUDED.version`).
    Rows with the same key are reduced to the highest version. One statement per set of
    columns, the rows passed as one array per column. Returns the number of rows written."""
    if not rows:
        return 0
    latest: dict[Any, Row] = {}
    for row in rows:
        current = latest.get(row[key])
        if current is None or row[version_column] > current[version_column]:
            latest[row[key]] = row
    info = table_info(table)
    groups: dict[tuple[str, ...], list[Row]] = {}
    for row in latest.values():
        groups.setdefault(tuple(row), []).append(row)
    qn = connection.ops.quote_name
    written = 0
    for columns, group in groups.items():
        arrays: list[list[Any]] = []
        placeholders = []
        selected = []
        for column in columns:
            column_type = info.types[column]
            values = [row[column] for row in group]
            if column in info.json:
                values = [_json_param(v) for v in values]
                placeholders.append("%b::text[]")
                selected.append(f"u.{qn(column)}::{column_type}")
            elif _uniform(values):
                placeholders.append(f"%b::{column_type}[]")
                selected.append(f"u.{qn(column)}")
            else:
                # Mixed or unusual Python types: let PostgreSQL parse their text.
                values = [_text_param(v) for v in values]
                placeholders.append("%b::text[]")
                selected.append(f"u.{qn(column)}::{column_type}")
            arrays.append(values)
        column_list = ", ".join(qn(c) for c in columns)
        updates = ", ".join(f"{qn(c)} = EXCLUDED.{qn(c)}" for c in columns if c != key)
        # Rows in key order, the same in every writer, so two upserts cannot deadlock.
        written += execute_prepared(
            f"INSERT INTO {qn(table)} AS t ({column_list}) "
            f"SELECT {', '.join(selected)} FROM unnest({', '.join(placeholders)}) "
            f"AS u({column_list}) ORDER BY u.{qn(key)} "
            f"ON CONFLICT ({qn(key)}) DO UPDATE SET {updates} "
            f"WHERE t.{qn(version_column)} < EXCLUDED.{qn(version_column)}",
            arrays,
        )
    return written


@dataclass(frozen=True)
class TableInfo:
    columns: tuple[str, ...]
    types: dict[str, str]  # column: SQL type, as format_type() spells it
    json: frozenset[str]

    @property
    def select_list(self) -> str:
        return ", ".join(connection.ops.quote_name(c) for c in self.columns)


_table_info_cache: dict[str, TableInfo] = {}


def table_info(table: str) -> TableInfo:
    """Columns and types of a table (cached by name: the shadow and temporary copies have
    the same columns as the table they copy)."""
    cached = _table_info_cache.get(table)
    if cached is None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT attname, format_type(atttypid, atttypmod), "
                "atttypid IN ('json'::regtype, 'jsonb'::regtype) "
                "FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                "AND NOT attisdropped ORDER BY attnum",
                [table],
            )
            found = cursor.fetchall()
        cached = TableInfo(
            columns=tuple(r[0] for r in found),
            types={r[0]: r[1] for r in found},
            json=frozenset(r[0] for r in found if r[2]),
        )
        _table_info_cache[table] = cached
    return cached


def forget_table_types() -> None:
    """Drop cached column types (after DDL that changes tables)."""
    _table_info_cache.clear()


_BINARY_TYPES = (str, bool, int, Decimal, UUID, datetime, date)


def _uniform(values: list[Any]) -> bool:
    """All non-null values of one plain type psycopg sends as a typed array."""
    kind: type | None = None
    for value in values:
        if value is None:
            continue
        if kind is None:
            kind = type(value)
            if kind not in _BINARY_TYPES:
                return False
        elif type(value) is not kind:
            return False
    return kind is not None


def _text_param(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _json_param(value: Any) -> str | None:
    if value is None:
        return None
    return _encode_json(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in a JSON column")


_encode_json = json.JSONEncoder(separators=(",", ":"), default=_json_default).encode


# --- checkpoints and the catch-up runner


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


def projection_lock(name: str, *, wait: bool) -> bool:
    """Take the projection's runner lock for the current transaction."""
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, hashtext(%s))", [_LOCK_CLASS, name])
        row = cursor.fetchone()
    return wait or bool(row and row[0])


def run_projection(name: str, *, batch_size: int = 500, max_batches: int | None = None) -> int:
    """Advance a projection from its checkpoint until it has caught up (or `max_batches`
    batches were done). Each batch is one transaction: read-model writes and the new
    checkpoint commit together. Returns the number of events handled; 0 also when another
    runner holds the projection's lock."""
    projection = get_projection(name)
    types = projection.event_types or None
    handled = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            if not projection_lock(name, wait=False):
                break
            after = checkpoint_get(name).position
            events = read_all(after, batch_size, types)
            if not events:
                break
            projection.handle(events)
            checkpoint_set(name, events[-1].position, processed=len(events), absolute=False)
        handled += len(events)
        batches += 1
        if len(events) < batch_size:
            break
    return handled


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
    for name, projection in _registry.items():
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
