"""Replay streams for operators: one stream as it was at some point (time-travel debugging)
and every stream at once, to prove that all of them still load with today's code and that
every snapshot equals a full replay."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import connection

from .aggregate import Aggregate, aggregate_class
from .events import to_json_value
from .exceptions import AggregateNotFound
from .snapshots import snapshot_load
from .store import SELECT_COLUMNS, RecordedEvent, load, recorded_from_row


@dataclass(frozen=True)
class StreamReplay:
    aggregate_id: UUID
    aggregate_type: str
    version: int
    stream_version: int
    events: list[RecordedEvent]
    state: dict[str, Any] | None  # None when no loaded app registers the aggregate type


def replay_stream(
    aggregate_id: UUID, *, version: int | None = None, as_of: datetime | None = None
) -> StreamReplay:
    """The stream's events up to `version` / `as_of` and the state they produce."""
    all_events = load(aggregate_id)
    if not all_events:
        raise AggregateNotFound("stream", aggregate_id)
    events = [
        e
        for e in all_events
        if (version is None or e.version <= version) and (as_of is None or e.created_at <= as_of)
    ]
    aggregate_type = all_events[0].aggregate_type
    cls = aggregate_class(aggregate_type)
    state = None
    if cls is not None:
        aggregate = cls.blank(aggregate_id)
        for recorded in events:
            aggregate.apply_event(recorded.event)
        state = aggregate_state(aggregate)
    return StreamReplay(
        aggregate_id=aggregate_id,
        aggregate_type=aggregate_type,
        version=events[-1].version if events else 0,
        stream_version=all_events[-1].version,
        events=events,
        state=state,
    )


def aggregate_state(aggregate: Aggregate) -> dict[str, Any]:
    """A JSON-able picture of an aggregate: its snapshot state when it has one, else its
    public attributes."""
    if type(aggregate).supports_snapshots():
        return _normalize(aggregate.snapshot_state())
    return {
        name: _json_or_str(value)
        for name, value in sorted(vars(aggregate).items())
        if not name.startswith("_")
    }


@dataclass(frozen=True)
class StreamFailure:
    aggregate_id: UUID
    aggregate_type: str
    version: int
    error: str


@dataclass(frozen=True)
class CheckResult:
    streams: int
    events: int
    unregistered_types: dict[str, int]  # aggregate type -> streams checked for events only
    snapshots_checked: int
    failures: list[StreamFailure]


def check_all_streams(
    *, batch_size: int = 5000, on_progress: Callable[[int], None] | None = None
) -> CheckResult:
    """Replay every stream: each event must deserialize (upcasters included) and apply,
    versions must be contiguous, and a stored snapshot must equal the replay at its version."""
    streams = 0
    events_seen = 0
    snapshots_checked = 0
    unregistered: dict[str, int] = {}
    failures: list[StreamFailure] = []
    current: list[Any] = []
    after: tuple[UUID, int] = (UUID(int=0), 0)

    def finish(rows: list[Any]) -> None:
        nonlocal streams, snapshots_checked
        streams += 1
        aggregate_id, aggregate_type = rows[0][1], rows[0][2]
        failure, snapshot_checked = _check_stream(rows)
        snapshots_checked += snapshot_checked
        if aggregate_class(aggregate_type) is None:
            unregistered[aggregate_type] = unregistered.get(aggregate_type, 0) + 1
        if failure is not None:
            failures.append(
                StreamFailure(
                    aggregate_id=aggregate_id,
                    aggregate_type=aggregate_type,
                    version=failure[0],
                    error=failure[1],
                )
            )

    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {SELECT_COLUMNS} FROM events WHERE (aggregate_id, version) > (%s, %s) "
                "ORDER BY aggregate_id, version LIMIT %s",
                [after[0], after[1], batch_size],
            )
            rows = cursor.fetchall()
        for row in rows:
            if current and current[0][1] != row[1]:
                finish(current)
                current = []
            current.append(row)
        events_seen += len(rows)
        if on_progress is not None and rows:
            on_progress(len(rows))
        if len(rows) < batch_size:
            break
        after = (rows[-1][1], rows[-1][5])
    if current:
        finish(current)
    return CheckResult(
        streams=streams,
        events=events_seen,
        unregistered_types=unregistered,
        snapshots_checked=snapshots_checked,
        failures=failures,
    )


def _check_stream(rows: Sequence[Any]) -> tuple[tuple[int, str] | None, int]:
    """(version, error) of the first problem in one stream, and 1 if a snapshot was checked."""
    aggregate_id, aggregate_type = rows[0][1], rows[0][2]
    cls = aggregate_class(aggregate_type)
    aggregate = cls.blank(aggregate_id) if cls is not None else None
    snapshot = snapshot_load(aggregate_id) if cls is not None and cls.supports_snapshots() else None
    if (
        snapshot is not None
        and cls is not None
        and snapshot.schema_version != cls.snapshot_schema_version
    ):
        snapshot = None
    snapshot_checked = 0
    for expected_version, row in enumerate(rows, start=1):
        version = row[5]
        if version != expected_version:
            return (expected_version, f"version {expected_version} is missing"), snapshot_checked
        try:
            recorded = recorded_from_row(row)
            if aggregate is not None:
                aggregate.apply_event(recorded.event)
        except Exception as exc:
            return (version, f"{type(exc).__name__}: {exc}"), snapshot_checked
        if snapshot is not None and aggregate is not None and snapshot.version == version:
            snapshot_checked = 1
            replayed = aggregate_state(aggregate)
            if replayed != _normalize(snapshot.state):
                return (
                    version,
                    f"snapshot at version {version} differs from the replay: "
                    f"snapshot {json.dumps(_normalize(snapshot.state), sort_keys=True)} != "
                    f"replay {json.dumps(replayed, sort_keys=True)}",
                ), snapshot_checked
    if snapshot is not None and snapshot.version > len(rows):
        return (
            snapshot.version,
            f"snapshot at version {snapshot.version} is ahead of the stream ({len(rows)})",
        ), snapshot_checked
    return None, snapshot_checked


def _normalize(state: Any) -> Any:
    """The state as it reads back from a jsonb column."""
    return json.loads(json.dumps(to_json_value(state)))


def _json_or_str(value: Any) -> Any:
    try:
        return to_json_value(value)
    except (TypeError, ValueError):
        return str(value)
