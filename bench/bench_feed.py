"""Event feed benchmarks over BENCH_FEED_EVENTS order events (20,000, ten a stream):

- paging through all of them with `integrations.feed.feed_read` in pages of 1,000, building
  each CloudEvents envelope and its cursor as GET /api/v1/feed/ does (HTTP and JSON
  rendering aside), against a raw psycopg keyset SELECT of the same rows in the same order
  under the same xmin guard;
- GET /api/v1/feed/?limit=100 over HTTP (each connection pages on from its own cursor, and
  starts over at the end) against the constant JSON view of bench/http.py.

Run alone with `python -m bench --only feed`. It wipes the `events` table of the benchmark
database (`commerce_bench`), never of any other, and leaves it empty.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from django.db import connection

from bench.fixtures import raw_connection, user_tokens
from bench.http import BASELINE, CONNECTIONS, Caller, Client, compare, constant_get
from bench.measure import Result, compared, in_turns, rate_of
from eventstore.events import serialize_event
from integrations.cloudevents import to_cloudevent
from integrations.cursor import START, cursor_encode
from integrations.feed import MAX_LIMIT, feed_read
from orders.domain import OrderItemQuantityChanged

FEED_EVENTS = int(os.environ.get("BENCH_FEED_EVENTS", "20000"))
PER_STREAM = 10
PER_TRANSACTION = 1000

_RAW_PAGE = (
    "SELECT id, aggregate_id, aggregate_type, event_type, event_data, version, metadata, "
    "created_at, global_position, transaction_id::text FROM events "
    "WHERE (transaction_id, global_position) > (%s::xid8, %s) "
    "AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) "
    "AND aggregate_type = 'Order' "
    "ORDER BY transaction_id, global_position LIMIT %s"
)


def _wipe() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE events")


def _seed() -> None:
    """FEED_EVENTS events, ten versions of each order, the streams interleaved in the log
    as many orders progressing at once are, PER_TRANSACTION rows a transaction."""
    data = json.dumps(
        serialize_event(
            OrderItemQuantityChanged(
                product_id=uuid.uuid4(), quantity=1, occurred_at=datetime.now(UTC)
            )
        )
    )
    streams = FEED_EVENTS // PER_STREAM
    with connection.cursor() as cursor:
        for first in range(0, FEED_EVENTS, PER_TRANSACTION):
            cursor.execute(
                "INSERT INTO events (id, aggregate_id, aggregate_type, event_type, event_data, "
                "metadata, version) "
                "SELECT gen_random_uuid(), md5('bench-feed-' || (n %% %s))::uuid, 'Order', "
                "'OrderItemQuantityChanged', %s::jsonb, '{\"schema_version\": 1}'::jsonb, "
                "n / %s + 1 FROM generate_series(%s, %s) AS n ORDER BY n",
                [streams, data, streams, first, min(first + PER_TRANSACTION, FEED_EVENTS) - 1],
            )


def _wait_until_readable(raw: Any) -> None:
    # Other sessions on the server can hold the xmin horizon back for a moment.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = raw.execute(
            "SELECT count(*) FROM events WHERE transaction_id < "
            "pg_snapshot_xmin(pg_current_snapshot())"
        ).fetchone()
        if row[0] == FEED_EVENTS:
            return
        time.sleep(0.05)
    raise RuntimeError("the seeded events stayed unreadable")


def bench_feed_read() -> list[Result]:
    _wipe()
    _seed()
    try:
        with raw_connection() as raw:
            _wait_until_readable(raw)

            def feed() -> int:
                after, read = START, 0
                while True:
                    page = feed_read(after=after, limit=MAX_LIMIT)
                    envelopes = [
                        to_cloudevent(e.event, position=cursor_encode(e.position))
                        for e in page.entries
                    ]
                    if not envelopes:
                        break
                    read += len(envelopes)
                    after = page.next
                assert read == FEED_EVENTS, read
                return read

            def raw_select() -> int:
                tx, pos, read = "0", 0, 0
                while True:
                    rows = raw.execute(_RAW_PAGE, [tx, pos, MAX_LIMIT]).fetchall()
                    if not rows:
                        break
                    read += len(rows)
                    tx, pos = rows[-1][9], rows[-1][8]
                assert read == FEED_EVENTS, read
                return read

            ours, theirs = in_turns(rate_of(feed), rate_of(raw_select))
    finally:
        _wipe()
    return [
        compared(
            f"feed: read {FEED_EVENTS:,} order events in pages of {MAX_LIMIT:,}, envelopes built",
            ours,
            theirs,
            unit="events/s",
            baseline="raw keyset SELECT of the same rows",
        )
    ]


HTTP_PAGE = 100
# Each load-generator thread's cursor, by its connection (threads never share one).
_http_cursors: dict[int, str] = {}


def _feed_page(client: Client, n: int) -> None:
    cursor = _http_cursors.get(id(client))
    path = f"/api/v1/feed/?limit={HTTP_PAGE}" + (f"&after={cursor}" if cursor else "")
    page = client.json("GET", path)
    _http_cursors[id(client)] = page["next"] if page["events"] else ""


def bench_feed_http() -> list[Result]:
    _wipe()
    _seed()
    try:
        with raw_connection() as raw:
            _wait_until_readable(raw)
        # superusers: they hold eventstore.view_feed
        readers = [Caller(t) for t in user_tokens("bench-feed", CONNECTIONS, staff=True)]
        ours, theirs = compare(_feed_page, constant_get, readers)
    finally:
        _wipe()
    return [
        compared(
            f"feed: GET /api/v1/feed/?limit={HTTP_PAGE} ({FEED_EVENTS:,} events, paged on)",
            ours,
            theirs,
            unit="req/s",
            baseline=BASELINE,
        )
    ]


BENCHMARKS = [bench_feed_read, bench_feed_http]
