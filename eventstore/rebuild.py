"""Rebuild a projection's table from the first event without the API ever seeing it empty
or half-built.

1. A shadow table `<table>__rebuild` is created `LIKE` the real one (columns, defaults,
   constraints, indexes, and the columns' statistics targets).
2. Events are read in batches from the log (`read_all` order) and folded into the shadow
   with the projection's own `project` (bulk upserts), which folds each stream by version
   and reads the versions a batch is missing from the stream. Each batch commits together with the
   rebuild's own checkpoint (table `projection_rebuilds`), so an interrupted rebuild resumes
   where it stopped.
3. The swap is one transaction: lock the real table (ACCESS EXCLUSIVE, so in-flight inline
   writers finish first and new ones wait) and, for asynchronous projections, the runner's
   advisory lock; fold the events committed since the last batch; rename the real table
   away, rename the shadow into its place, drop the old one, give indexes and constraints
   their original names back, create the views that read the table again; set the
   projection's checkpoint. Readers blocked during the
   swap continue on the new table.

While the shadow fills, inline projections keep writing the real table as usual; the final
catch-up under the lock reads every committed event after the shadow's checkpoint, so
nothing written meanwhile is lost. Writers still in flight when the lock is taken have not
touched the table yet and will write to the new one.

An asynchronous projection is rebuilt only up to the cluster's xmin horizon (`read_all`'s
guard: its appenders are not locked out, so an event above xmin may still have one of lower
position committing behind it), and its checkpoint is set to the last event folded. Any
session on the same server, in any database, with a transaction open holds that horizon
back, so right after the rebuild the table may lack the newest events: the catch-up runner
folds them once the horizon passes. Whoever needs the table complete (a test) runs the
runner until `projection_lag` is 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from .exceptions import RebuildInProgress, RebuildLockTimeout
from .projections import (
    Projection,
    checkpoint_set,
    forget_table_types,
    get_projection,
    projection_lock,
)
from .projections.catalogue import (
    dependent_views,
    foreign_keys,
    index_names,
    table_info_read,
)
from .store import Position, read_all, read_events

_MAX_IDENTIFIER = 63
SHADOW_SUFFIX = "__rebuild"
_OLD_SUFFIX = "__replaced"
_REBUILD_LOCK_CLASS = 0x45565342  # "EVSB"


@dataclass(frozen=True)
class RebuildResult:
    name: str
    table: str
    events: int
    events_this_run: int
    rows: int
    seconds: float
    resumed: bool

    @property
    def events_per_second(self) -> float:
        return self.events_this_run / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class RebuildStart:
    """Told to the caller before the first batch: for a progress bar."""

    name: str
    total_events: int
    done_events: int
    resumed: bool


@dataclass(frozen=True)
class RebuildPlan:
    """What one rebuild folds and where: fixed (and its table names checked) before the
    first batch, then handed to every step."""

    name: str
    projection: Projection
    table: str
    shadow: str  # the table the events are folded into, swapped in at the end
    old: str  # the name the real table has between the swap's renames and its drop
    types: tuple[str, ...] | None  # event types to read; None: all
    batch_size: int

    @classmethod
    def for_projection(cls, name: str, *, batch_size: int) -> RebuildPlan:
        projection = get_projection(name)
        table = projection.require_table()
        return cls(
            name=name,
            projection=projection,
            table=table,
            shadow=shadow_table_name(table),
            old=_identifier(table + _OLD_SUFFIX),
            types=tuple(sorted(projection.event_types)) or None,
            batch_size=batch_size,
        )


def shadow_table_name(table: str) -> str:
    return _identifier(table + SHADOW_SUFFIX)


def rebuild_projection(
    name: str,
    *,
    batch_size: int = 5000,
    restart: bool = False,
    on_start: Callable[[RebuildStart], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> RebuildResult:
    """Rebuild one projection's table from the event log and swap it in atomically.
    `on_batch(n)` is called after each committed batch; an exception raised there (or a
    Ctrl-C) stops the rebuild, and the next call resumes from the last committed batch."""
    plan = RebuildPlan.for_projection(name, batch_size=batch_size)
    forget_table_types()
    started = time.monotonic()
    with _rebuild_lock(name):
        return _rebuild(
            plan, started=started, restart=restart, on_start=on_start, on_batch=on_batch
        )


@contextmanager
def _rebuild_lock(name: str) -> Iterator[None]:
    """One rebuild per projection: a session lock, held across the batch transactions."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", [_REBUILD_LOCK_CLASS, name])
        row = cursor.fetchone()
    if not (row and row[0]):
        raise RebuildInProgress(f"another rebuild of {name!r} is running")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_unlock(%s, hashtext(%s))", [_REBUILD_LOCK_CLASS, name]
            )


def _rebuild(
    plan: RebuildPlan,
    *,
    started: float,
    restart: bool,
    on_start: Callable[[RebuildStart], None] | None,
    on_batch: Callable[[int], None] | None,
) -> RebuildResult:
    position, done, resumed = _prepare_shadow(plan, restart=restart)
    if on_start is not None:
        on_start(
            RebuildStart(
                name=plan.name,
                total_events=_count_events(plan.types),
                done_events=done,
                resumed=resumed,
            )
        )

    this_run = 0
    while True:
        with transaction.atomic():
            events = read_all(position, plan.batch_size, plan.types)
            if not events:
                break
            plan.projection.project(events, table=plan.shadow)
            position = events[-1].position
            _save_progress(plan.name, position, len(events))
        this_run += len(events)
        if on_batch is not None:
            on_batch(len(events))

    final = _swap_with_retries(plan, position)
    this_run += final
    if on_batch is not None and final:
        on_batch(final)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(plan.table)}")
        cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(plan.table)}")
        row = cursor.fetchone()
        rows = int(row[0]) if row else 0
    forget_table_types()
    return RebuildResult(
        name=plan.name,
        table=plan.table,
        events=done + this_run,
        events_this_run=this_run,
        rows=rows,
        seconds=time.monotonic() - started,
        resumed=resumed,
    )


def _prepare_shadow(plan: RebuildPlan, *, restart: bool) -> tuple[Position, int, bool]:
    """Resume the shadow build if one is recorded and its table exists, else start one."""
    name, table, shadow = plan.name, plan.table, plan.shadow
    qn = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT transaction_id::text, global_position, events_processed, shadow_table "
            "FROM projection_rebuilds WHERE name = %s FOR UPDATE",
            [name],
        )
        row = cursor.fetchone()
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [shadow])
        exists_row = cursor.fetchone()
        shadow_exists = bool(exists_row and exists_row[0])
        if (
            row is not None
            and shadow_exists
            and row[3] == shadow
            and not restart
            and table_info_read(shadow) == table_info_read(table)
        ):
            return (int(row[0]), int(row[1])), int(row[2]), True
        # Nothing to resume (or the table changed since, e.g. a migration): start over.
        cursor.execute(f"DROP TABLE IF EXISTS {qn(shadow)}")
        cursor.execute(f"CREATE TABLE {qn(shadow)} (LIKE {qn(table)} INCLUDING ALL)")
        _copy_statistics_targets(cursor, table, shadow)
        cursor.execute(
            "INSERT INTO projection_rebuilds (name, shadow_table, transaction_id, "
            "global_position, events_processed, started_at, updated_at) "
            "VALUES (%s, %s, '0', 0, 0, %s, %s) ON CONFLICT (name) DO UPDATE SET "
            "shadow_table = EXCLUDED.shadow_table, transaction_id = '0', global_position = 0, "
            "events_processed = 0, started_at = EXCLUDED.started_at, "
            "updated_at = EXCLUDED.updated_at",
            [name, shadow, timezone.now(), timezone.now()],
        )
    return (0, 0), 0, False


def _copy_statistics_targets(cursor: Any, table: str, shadow: str) -> None:
    """Per-column statistics targets (ALTER COLUMN ... SET STATISTICS, which LIKE does not
    copy): the planner's estimates on the swapped-in table stay what they were."""
    qn = connection.ops.quote_name
    cursor.execute(
        "SELECT attname, attstattarget FROM pg_attribute WHERE attrelid = %s::regclass "
        "AND attnum > 0 AND NOT attisdropped AND attstattarget >= 0",
        [table],
    )
    for column, target in cursor.fetchall():
        cursor.execute(
            f"ALTER TABLE {qn(shadow)} ALTER COLUMN {qn(column)} SET STATISTICS {int(target)}"
        )


def _save_progress(name: str, position: Position, count: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE projection_rebuilds SET transaction_id = %s::text::xid8, "
            "global_position = %s, events_processed = events_processed + %s, "
            "updated_at = clock_timestamp() WHERE name = %s",
            [str(position[0]), position[1], count, name],
        )


def _count_events(types: tuple[str, ...] | None) -> int:
    with connection.cursor() as cursor:
        if types:
            cursor.execute("SELECT count(*) FROM events WHERE event_type = ANY(%s)", [list(types)])
        else:
            cursor.execute("SELECT count(*) FROM events")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _swap_with_retries(plan: RebuildPlan, position: Position) -> int:
    attempts = settings.EVENTSTORE_REBUILD_SWAP_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            return _swap(plan, position)
        except OperationalError as exc:
            if getattr(getattr(exc.__cause__, "diag", None), "sqlstate", None) != "55P03":
                raise
            if attempt == attempts:
                raise RebuildLockTimeout(
                    f"could not lock {plan.table!r} within "
                    f"{settings.EVENTSTORE_REBUILD_LOCK_TIMEOUT} s ({attempts} attempts): "
                    f"a long transaction holds it. The shadow table {plan.shadow!r} is kept; "
                    "run the rebuild again to resume."
                ) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _swap(plan: RebuildPlan, position: Position) -> int:
    projection, name, table = plan.projection, plan.name, plan.table
    shadow, old = plan.shadow, plan.old
    qn = connection.ops.quote_name
    caught_up = 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            timeout_ms = int(settings.EVENTSTORE_REBUILD_LOCK_TIMEOUT * 1000)
            cursor.execute(f"SET LOCAL lock_timeout = {timeout_ms}")
            if not projection.inline:
                projection_lock(name, wait=True)
            cursor.execute(f"LOCK TABLE {qn(table)} IN ACCESS EXCLUSIVE MODE")
        # Inline writers are locked out now and every one that touched the table has
        # committed, so all committed events are final: read past the xmin guard. The
        # runner of an asynchronous projection is locked out too, but its events are only
        # final below xmin, so keep the guard and leave the rest to the runner.
        while True:
            events = read_events(
                after=position,
                limit=plan.batch_size,
                types=plan.types,
                committed_only=not projection.inline,
            )
            if not events:
                break
            projection.project(events, table=shadow)
            position = events[-1].position
            caught_up += len(events)
        indexes = index_names(table)
        shadow_indexes = index_names(shadow)
        constraints = foreign_keys(table)
        views = dependent_views(table)
        with connection.cursor() as cursor:
            # Deferred constraint checks this transaction still owes on the old table (only
            # when the rebuild runs inside a caller's transaction that wrote to it) would
            # block the DROP: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            # A view follows the table it reads, renamed or not, and would block the DROP:
            # drop it and create it again on the new table, in this same transaction.
            for view, _ in views:
                cursor.execute(f"DROP VIEW {view}")
            cursor.execute(f"ALTER TABLE {qn(table)} RENAME TO {qn(old)}")
            cursor.execute(f"ALTER TABLE {qn(shadow)} RENAME TO {qn(table)}")
            cursor.execute(f"DROP TABLE {qn(old)}")
            for view, definition in views:
                cursor.execute(f"CREATE VIEW {view} AS {definition}")
            for signature, original in indexes.items():
                current = shadow_indexes.get(signature)
                if current is None or current == original:
                    continue
                cursor.execute(f"ALTER INDEX {qn(current)} RENAME TO {qn(original)}")
            for constraint, definition in constraints:
                cursor.execute(
                    f"ALTER TABLE {qn(table)} ADD CONSTRAINT {qn(constraint)} {definition} "
                    "NOT VALID"
                )
            cursor.execute(
                "SELECT events_processed FROM projection_rebuilds WHERE name = %s", [name]
            )
            row = cursor.fetchone()
            total = (int(row[0]) if row else 0) + caught_up
            cursor.execute("DELETE FROM projection_rebuilds WHERE name = %s", [name])
        checkpoint_set(name, position, processed=total, absolute=True)
    # Validating scans the table; outside the swap it does not hold up readers or writers.
    with connection.cursor() as cursor:
        for constraint, _ in constraints:
            cursor.execute(f"ALTER TABLE {qn(table)} VALIDATE CONSTRAINT {qn(constraint)}")
    return caught_up


def _identifier(name: str) -> str:
    if len(name.encode()) > _MAX_IDENTIFIER:
        raise ValueError(f"table name {name!r} is longer than PostgreSQL's 63 bytes")
    return name
