"""Event store benchmarks, each against a raw psycopg baseline measured in turns with it:
appending one event and 100 events per transaction, loading an aggregate of 10 and of 1,000
events with and without a snapshot, and `rebuild_projections` over BENCH_REBUILD_EVENTS
events (200,000; measured once, it is long enough).

Run alone with `python -m bench --only eventstore`. They wipe the event store tables of the
benchmark database (`commerce_bench`), never of any other.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import StringIO
from typing import Any

import psycopg
from django.core.management import call_command
from django.db import connection

from bench.fixtures import raw_connection
from bench.measure import Goal, Result, Side, compared, in_turns, measured, rate_of, repeated
from eventstore.aggregate import Aggregate
from eventstore.events import DomainEvent
from eventstore.projections import Projection, Row, register_projection
from eventstore.repository import Repository
from eventstore.snapshots import snapshot_save
from eventstore.store import RecordedEvent, append

REBUILD_EVENTS = int(os.environ.get("BENCH_REBUILD_EVENTS", "200000"))


@dataclass(frozen=True)
class BenchCounterOpened(DomainEvent):
    name: str


@dataclass(frozen=True)
class BenchCounterIncremented(DomainEvent):
    amount: int


class BenchCounter(Aggregate):
    aggregate_type = "BenchCounter"

    name: str
    total: int

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, BenchCounterOpened):
            self.name, self.total = event.name, 0
        elif isinstance(event, BenchCounterIncremented):
            self.total += event.amount

    def snapshot_state(self) -> dict[str, Any]:
        return {"name": self.name, "total": self.total}

    def restore_snapshot_state(self, state: dict[str, Any]) -> None:
        self.name, self.total = state["name"], state["total"]


class BenchCounterProjection(Projection):
    name = "bench_counters"
    table = "bench_counters"
    inline = False
    event_types = frozenset({"BenchCounterOpened", "BenchCounterIncremented"})

    def apply(self, row: Row | None, event: RecordedEvent) -> Row | None:
        e = event.event
        if isinstance(e, BenchCounterOpened):
            return {
                "id": event.aggregate_id,
                "name": e.name,
                "total": 0,
                "increments": 0,
                "updated_at": event.created_at,
            }
        if row is None or not isinstance(e, BenchCounterIncremented):
            return None
        row["total"] += e.amount
        row["increments"] += 1
        row["updated_at"] = event.created_at
        return row


_INSERT_ONE = (
    "INSERT INTO events (id, aggregate_id, aggregate_type, event_type, event_data, metadata, "
    "version) VALUES (%s, %s, 'BenchCounter', 'BenchCounterIncremented', %s, %s, %s)"
)


def _reset() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE events, snapshots, projection_checkpoints, projection_rebuilds; "
            "DROP TABLE IF EXISTS bench_counters, bench_counters__rebuild"
        )


def _payload(amount: int) -> tuple[str, str]:
    return json.dumps({"amount": amount}), json.dumps({"schema_version": 1})


def bench_append_one_event_per_transaction() -> list[Result]:
    _reset()
    per_round = 500
    streams = [uuid.uuid4() for _ in range(50)]
    versions = dict.fromkeys(streams, 0)
    event = BenchCounterIncremented(amount=1)

    def ours() -> int:
        for i in range(per_round):
            stream = streams[i % len(streams)]
            append(stream, "BenchCounter", versions[stream], [event])
            versions[stream] += 1
        return per_round

    raw_streams = [uuid.uuid4() for _ in range(50)]
    raw_versions = dict.fromkeys(raw_streams, 0)
    data, metadata = _payload(1)
    with raw_connection() as raw:

        def insert_raw(in_transaction: bool) -> int:
            for i in range(per_round):
                stream = raw_streams[i % len(raw_streams)]
                raw_versions[stream] += 1
                params = [uuid.uuid4(), stream, data, metadata, raw_versions[stream]]
                if in_transaction:
                    with raw.transaction():
                        raw.execute(_INSERT_ONE, params)
                else:
                    raw.execute(_INSERT_ONE, params)
            return per_round

        raw_rates, raw_tx_rates, our_rates = in_turns(
            rate_of(functools.partial(insert_raw, False)),
            rate_of(functools.partial(insert_raw, True)),
            rate_of(ours),
        )
    return [
        compared(
            "eventstore: append, 1 event per transaction",
            our_rates,
            raw_rates,
            unit="appends/s",
            baseline="raw psycopg INSERT of the same row (autocommit)",
            goal_ratio=0.5,
        ),
        compared(
            "eventstore: append, 1 event per transaction",
            our_rates,
            raw_tx_rates,
            unit="appends/s",
            baseline="raw psycopg BEGIN; INSERT; COMMIT of the same row",
        ),
    ]


def bench_append_100_events_per_transaction() -> list[Result]:
    _reset()
    transactions = 50
    events = [BenchCounterIncremented(amount=n) for n in range(100)]

    def ours() -> int:
        for _ in range(transactions):
            append(uuid.uuid4(), "BenchCounter", 0, events)
        return transactions * len(events)

    data_meta = [_payload(n) for n in range(100)]
    values = ", ".join(["(%s, %s, 'BenchCounter', 'BenchCounterIncremented', %s, %s, %s)"] * 100)
    with raw_connection() as raw:

        def baseline() -> int:
            for _ in range(transactions):
                stream = uuid.uuid4()
                params: list[Any] = []
                for version, (data, metadata) in enumerate(data_meta, start=1):
                    params += [uuid.uuid4(), stream, data, metadata, version]
                raw.execute(
                    "INSERT INTO events (id, aggregate_id, aggregate_type, event_type, "
                    f"event_data, metadata, version) VALUES {values}",
                    params,
                )
            return transactions * len(events)

        raw_rates, our_rates = in_turns(rate_of(baseline), rate_of(ours))
    return [
        compared(
            "eventstore: append, 100 events per transaction",
            our_rates,
            raw_rates,
            unit="events/s",
            baseline="raw psycopg multi-row INSERT, 100 rows per transaction",
            goal=Goal(">= 20,000 events/s", statistics.median(our_rates) >= 20_000),
        )
    ]


def _stream(length: int) -> uuid.UUID:
    stream = uuid.uuid4()
    events: list[DomainEvent] = [BenchCounterOpened(name="c")]
    events += [BenchCounterIncremented(amount=n) for n in range(1, length)]
    for start in range(0, length, 500):
        append(stream, "BenchCounter", start, events[start : start + 500])
    return stream


def bench_load_aggregate() -> list[Result]:
    _reset()
    with raw_connection() as raw:
        return [*_load_aggregate(raw, 10, repeat=500), *_load_aggregate(raw, 1000, repeat=20)]


def _load_aggregate(raw: psycopg.Connection[Any], length: int, *, repeat: int) -> list[Result]:
    counters = Repository(BenchCounter)
    plain, snapped = _stream(length), _stream(length)
    replayed = counters.get(snapped, version=length)
    snapshot_save(
        aggregate_id=snapped,
        aggregate_type="BenchCounter",
        version=length,
        schema_version=BenchCounter.snapshot_schema_version,
        state=replayed.snapshot_state(),
    )
    assert counters.get(snapped).total == replayed.total

    def raw_select(_: int) -> Sequence[Any]:
        return raw.execute(
            "SELECT id, aggregate_id, aggregate_type, event_type, event_data, version, "
            "metadata, created_at, global_position, transaction_id::text FROM events "
            "WHERE aggregate_id = %s ORDER BY version",
            [plain],
        ).fetchall()

    def full_replay(_: int) -> BenchCounter:
        # version= stops the repository from looking for a snapshot first
        return counters.get(plain, version=length)

    def from_snapshot(_: int) -> BenchCounter:
        return counters.get(snapped)

    selects, *ours = in_turns(
        repeated(raw_select, repeat), repeated(full_replay, repeat), repeated(from_snapshot, repeat)
    )
    return [
        compared(
            f"eventstore: load aggregate of {length} events, {how}",
            rates,
            selects,
            unit="µs",
            per_op=True,
            baseline=f"raw SELECT of the {length} rows",
        )
        for how, rates in zip(("full replay", "from snapshot"), ours, strict=True)
    ]


_COUNTERS_DDL = """
CREATE TABLE bench_counters (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    total bigint NOT NULL,
    increments integer NOT NULL,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL
);
CREATE INDEX bench_counters_name_idx ON bench_counters (name);
"""


def _generate_counter_events(raw: psycopg.Connection[Any], counters: int, length: int) -> int:
    """counters x length events, interleaved (every counter's version v, then v + 1) and
    committed one version per transaction, like many streams written side by side."""
    ids = [uuid.uuid4() for _ in range(counters)]
    metadata = json.dumps({"schema_version": 1})
    opened = json.dumps({"name": "counter"})
    for version in range(1, length + 1):
        event_type = "BenchCounterOpened" if version == 1 else "BenchCounterIncremented"
        data = opened if version == 1 else json.dumps({"amount": version})
        with (
            raw.transaction(),
            raw.cursor().copy(
                "COPY events (id, aggregate_id, aggregate_type, event_type, event_data, "
                "metadata, version) FROM STDIN"
            ) as copy,
        ):
            for aggregate_id in ids:
                copy.write_row(
                    (
                        uuid.uuid4(),
                        aggregate_id,
                        "BenchCounter",
                        event_type,
                        data,
                        metadata,
                        version,
                    )
                )
    raw.execute("ANALYZE events")
    return counters * length


def _raw_read_all(raw: psycopg.Connection[Any], *, batch_size: int) -> float:
    """Seconds to read the whole log in (transaction_id, global_position) order."""
    started = time.perf_counter()
    after: tuple[str, int] = ("0", 0)
    while True:
        rows = raw.execute(
            "SELECT id, aggregate_id, aggregate_type, event_type, event_data, version, metadata, "
            "created_at, global_position, transaction_id::text AS transaction_id_text FROM events "
            "WHERE (transaction_id, global_position) > (%s::xid8, %s) "
            "AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) "
            "ORDER BY events.transaction_id, events.global_position LIMIT %s",
            [after[0], after[1], batch_size],
        ).fetchall()
        if len(rows) < batch_size:
            return time.perf_counter() - started
        after = (rows[-1][9], rows[-1][8])


def bench_rebuild_projections() -> list[Result]:
    _reset()
    register_projection(BenchCounterProjection)
    with connection.cursor() as cursor:
        cursor.execute(_COUNTERS_DDL)
    length = 10
    counters = REBUILD_EVENTS // length
    with raw_connection() as raw:
        total = _generate_counter_events(raw, counters, length)
        expected = raw.execute(
            "SELECT sum(coalesce((event_data->>'amount')::bigint, 0)) FROM events"
        ).fetchone()
        read_rate = total / _raw_read_all(raw, batch_size=5000)
    out = StringIO()
    started = time.perf_counter()
    call_command(
        "rebuild_projections", "bench_counters", "--no-progress", "--batch-size", "5000", stdout=out
    )
    rate = total / (time.perf_counter() - started)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), sum(total) FROM bench_counters")
        check = cursor.fetchone()
    assert check is not None
    assert expected is not None
    assert (check[0], check[1]) == (counters, expected[0]), (check, expected)
    return [
        measured(
            f"eventstore: rebuild_projections over {total:,} events",
            Side(rate, "events/s"),
            "raw psycopg read of the same events in batches (no decoding, no writes)",
            Side(read_rate, "events/s"),
            goal=Goal(">= 10,000 events/s", rate >= 10_000),
        )
    ]


BENCHMARKS: list[Callable[[], list[Result]]] = [
    bench_append_one_event_per_transaction,
    bench_append_100_events_per_transaction,
    bench_load_aggregate,
    bench_rebuild_projections,
]
