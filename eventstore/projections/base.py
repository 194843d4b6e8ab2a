"""The Projection base class: a read model computed from events.

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
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, ClassVar
from uuid import UUID

from django.db import connection

from ..exceptions import ProjectionNotRebuildable
from ..prepared import fetch_prepared_described
from ..store import RecordedEvent, load_ranges, saving_aggregate
from .catalogue import table_info
from .upsert import Row, upsert_guarded


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

    def row_of(self, aggregate: Any) -> Row | None:
        """The row of `aggregate` as it stands, when this projection's row is a function
        of the aggregate's state alone (the fold of its whole stream): the inline
        projection of a save then writes it without reading the stored row. None (the
        default): fold the events into the stored row."""
        return None

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
        changed = self._rows_of_saving_aggregate(relevant)
        if changed:
            relevant = [e for e in relevant if self.row_key(e) not in changed]
        rows = self.fetch_rows(table, self.keys_to_fetch(relevant))
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

    def _rows_of_saving_aggregate(self, events: Sequence[RecordedEvent]) -> dict[Any, Row]:
        """The row of the aggregate being saved (see `row_of`), keyed like `events`' rows,
        when `events` end its stream at the aggregate's version; else nothing."""
        aggregate = saving_aggregate.get()
        if aggregate is None or type(self).row_key is not Projection.row_key:
            return {}
        versions = [e.version for e in events if e.aggregate_id == aggregate.id]
        if not versions or max(versions) != aggregate.version:
            return {}
        row = self.row_of(aggregate)
        if row is None:
            return {}
        row[self.version_column] = aggregate.version
        return {aggregate.id: row}

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

    def keys_to_fetch(self, events: Sequence[RecordedEvent]) -> set[Any]:
        """The rows `project` must read before folding `events`. A row keyed by its stream
        whose batch holds the stream's first event folds from nothing: starting from the
        stored row (if any) or from blank gives the same row, and `in_version_order` reads
        whatever the batch lacks. So a new aggregate (every create) costs no SELECT."""
        keys = {self.row_key(e) for e in events}
        if type(self).row_key is Projection.row_key:
            keys -= {e.aggregate_id for e in events if e.version == 1}
        return keys

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
