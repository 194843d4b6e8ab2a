"""The feed's promise with real connections racing: no event skipped or repeated, even one
whose transaction commits after later ones; each order in version order, even when an older
transaction appends v5 after v4 committed; any event's `position` resumes right after it."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction

from eventstore.store import append
from integrations.cursor import START
from integrations.feed import FeedEntry, feed_read
from orders.domain import OrderItemRemoved
from tests.eventstore.conftest import (
    InThread,
    append_under_an_older_transaction,
    stream_versions_in_read_order,
)
from tests.integrations.conftest import (
    PRODUCT_ID,
    append_order_event,
    bulk_insert,
    read_whole_feed,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _versions(entries: list[FeedEntry], order_id: uuid.UUID) -> list[int]:
    return [e.event.version for e in entries if e.event.aggregate_id == order_id]


def _ids(entries: list[FeedEntry]) -> list[uuid.UUID]:
    return [e.event.id for e in entries]


@pytest.mark.parametrize("older_inserts_first", [False, True])
def test_an_event_committed_after_later_ones_is_delivered_once(older_inserts_first: bool) -> None:
    # given an event already read, and a reader's cursor after it
    first = append_order_event(uuid.uuid4(), 1)
    read = read_whole_feed(expected=1)
    assert _ids(read) == [first.id]
    cursor = read[-1].position
    # and an older transaction A still open while a younger one, B, commits
    late_order, early_order = uuid.uuid4(), uuid.uuid4()
    a_ready, a_may_commit = threading.Event(), threading.Event()

    def older() -> None:
        with transaction.atomic():
            with connection.cursor() as c:
                c.execute("SELECT pg_current_xact_id()")
            if older_inserts_first:
                append_order_event(late_order, 1)
            a_ready.set()
            assert a_may_commit.wait(10)
            if not older_inserts_first:
                append_order_event(late_order, 1)

    a = InThread(older)
    assert a_ready.wait(10)
    append_order_event(early_order, 1)
    # when the reader reads while A is open
    held_back = feed_read(after=cursor, limit=100)
    # then B's event is held back and the cursor does not move past it
    assert held_back.entries == []
    assert held_back.next == cursor
    # when A commits and the reader goes on from its cursor
    a_may_commit.set()
    a.join()
    assert a.error is None
    rest = read_whole_feed(cursor, expected=2)
    # then both come, each once, A's first (its transaction id is the lower)
    assert [e.event.aggregate_id for e in rest] == [late_order, early_order]
    assert read_whole_feed(rest[-1].position) == []


def _removed() -> OrderItemRemoved:
    return OrderItemRemoved(product_id=PRODUCT_ID, occurred_at=datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture
def order_read_out_of_order() -> uuid.UUID:
    """An order at v3 whose v5 an older transaction appended after v4 committed, so the log
    holds v5 before v4. v4 is an OrderItemRemoved, every other version a quantity change."""
    order_id = uuid.uuid4()
    for version in (1, 2, 3):
        append_order_event(order_id, version)
    append_under_an_older_transaction(
        first=lambda: append(order_id, "Order", 3, [_removed()]),
        then=lambda: append_order_event(order_id, 5),
    )
    assert stream_versions_in_read_order(order_id) == [1, 2, 3, 5, 4]
    return order_id


@pytest.mark.parametrize("limit", [1, 2, 3, 1000])
def test_an_order_read_out_of_version_order_comes_in_version_order(
    order_read_out_of_order: uuid.UUID, limit: int
) -> None:
    # given another order's events around it
    other = uuid.uuid4()
    append_order_event(other, 1)
    # when the feed is read page by page
    entries = read_whole_feed(limit=limit, expected=6)
    # then v4 comes before v5, and nothing twice
    assert _versions(entries, order_read_out_of_order) == [1, 2, 3, 4, 5]
    assert _versions(entries, other) == [1]
    assert len(set(_ids(entries))) == len(entries) == 6


def test_every_position_resumes_right_after_its_event(
    order_read_out_of_order: uuid.UUID,
) -> None:
    # given the whole feed, with v4 pulled forward ahead of its place in the log
    append_order_event(uuid.uuid4(), 1)
    entries = read_whole_feed(expected=6)
    pulled = [e for e in entries if e.position.within is not None]
    assert [e.event.version for e in pulled] == [4]
    # when the feed is read again from each event's position, in pages of one and of many
    for index, entry in enumerate(entries):
        for limit in (1, 1000):
            # then it goes on with exactly the events after that one
            assert _ids(read_whole_feed(entry.position, limit=limit)) == _ids(entries[index + 1 :])


def test_a_type_filter_hides_events_without_moving_the_order_logic(
    order_read_out_of_order: uuid.UUID,
) -> None:
    # given the pulled-forward v4 is the one event of another type
    wanted = frozenset({"OrderItemQuantityChanged"})
    # when the feed is read one event a page with a filter
    after = START
    seen: list[FeedEntry] = []
    for _ in range(20):
        page = feed_read(after=after, limit=1, event_types=wanted)
        seen.extend(page.entries)
        after = page.next
    # then v4 is hidden, the rest come once each in order, and the cursor ends at the end
    assert _versions(seen, order_read_out_of_order) == [1, 2, 3, 5]
    assert feed_read(after=after, limit=1000).entries == []
    assert [e.event.version for e in read_whole_feed()] == [
        1,
        2,
        3,
        4,
        5,
    ]


# --- volume, with writers racing the reader --------------------------------------------

STREAMS = 200
VERSIONS = 50  # 10,000 events
TOTAL = STREAMS * VERSIONS


def _write_everything(rng: random.Random) -> None:
    """All versions of all streams, in rounds of two racing transactions: an older one that
    takes its id first and a younger one that commits while it is open. The older one either
    inserts before waiting (lower positions committing late) or after the younger committed,
    appending the next versions of the younger's streams (v(n+1) ahead of v(n) in the log)."""
    orders = [uuid.uuid4() for _ in range(STREAMS)]
    written = dict.fromkeys(range(STREAMS), 0)

    def next_rows(streams: list[int]) -> list[tuple[uuid.UUID, int]]:
        rows = []
        for s in streams:
            if written[s] < VERSIONS:
                written[s] += 1
                rows.append((orders[s], written[s]))
        return rows

    round_number = 0
    while any(v < VERSIONS for v in written.values()):
        round_number += 1
        open_streams = [s for s, v in written.items() if v < VERSIONS]
        young = rng.sample(open_streams, min(len(open_streams), 60))
        others = [s for s in open_streams if s not in set(young)]
        older_inserts_first = round_number % 3 == 0
        if older_inserts_first:
            # disjoint streams: the younger must not wait for the older's rows
            old_rows = next_rows(rng.sample(others, min(len(others), 40)))
            young_rows = next_rows(young)
        else:
            young_rows = next_rows(young)
            old_rows = next_rows(rng.sample(young, len(young) // 2))
            old_rows += next_rows(rng.sample(others, min(len(others), 20)))
        _race(young_rows, old_rows, older_inserts_first=older_inserts_first)


def _race(
    young_rows: list[tuple[uuid.UUID, int]],
    old_rows: list[tuple[uuid.UUID, int]],
    *,
    older_inserts_first: bool,
) -> None:
    took_id, go = threading.Event(), threading.Event()

    def older() -> None:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_current_xact_id()")
            if older_inserts_first and old_rows:
                bulk_insert(old_rows)
            took_id.set()
            assert go.wait(10)
            if not older_inserts_first and old_rows:
                bulk_insert(old_rows)

    thread = InThread(older)
    assert took_id.wait(10)
    if young_rows:
        bulk_insert(young_rows)
    go.set()
    thread.join(30)
    if thread.error is not None:
        raise thread.error


def test_paging_through_10000_events_written_by_racing_transactions() -> None:
    # given a reader paging with random page sizes while the writers race
    rng = random.Random(15)
    writers_done = threading.Event()

    def reader() -> list[FeedEntry]:
        pages = random.Random(16)
        after, entries = START, []
        deadline: float | None = None
        while len(entries) < TOTAL:
            page = feed_read(after=after, limit=pages.choice([1, 7, 50, 333, 1000]))
            entries.extend(page.entries)
            after = page.next
            if page.entries:
                continue
            if writers_done.is_set():
                deadline = deadline or time.monotonic() + 30
                if time.monotonic() > deadline:
                    break
            time.sleep(0.01)
        return entries

    read = InThread(reader)
    # when every version of every stream is written
    _write_everything(rng)
    writers_done.set()
    entries: list[FeedEntry] = read.join(90)
    assert read.error is None
    # then every event came exactly once and each order in version order
    assert len(entries) == TOTAL
    assert len(set(_ids(entries))) == TOTAL
    by_order: dict[uuid.UUID, list[int]] = defaultdict(list)
    for entry in entries:
        by_order[entry.event.aggregate_id].append(entry.event.version)
    assert len(by_order) == STREAMS
    assert all(versions == list(range(1, VERSIONS + 1)) for versions in by_order.values())
    # and the racing really put versions out of order in the log
    pulled = [i for i, e in enumerate(entries) if e.position.within is not None]
    assert len(pulled) > 100
    # and resuming from an event's position goes on with the events after it
    sample = set(rng.sample(range(TOTAL), 150)) | set(pulled[:150])
    for index in sorted(sample):
        page = feed_read(after=entries[index].position, limit=5)
        assert _ids(page.entries) == _ids(entries[index + 1 : index + 6])


def test_a_filter_that_hides_every_row_read_still_moves_the_cursor_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given 25 events the filter hides, then one it shows, and requests that read 10 rows
    monkeypatch.setattr("integrations.feed.MAX_BATCHES", 1)
    monkeypatch.setattr("integrations.feed._MIN_FILTERED_BATCH", 10)
    order_id = uuid.uuid4()
    for version in range(1, 26):
        append_order_event(order_id, version)
    removed = append(order_id, "Order", 25, [_removed()])[0]
    read_whole_feed(expected=26)
    wanted = frozenset({"OrderItemRemoved"})
    # when the filtered feed is read from the start, request after request
    pages = []
    after = START
    for _ in range(4):
        page = feed_read(after=after, limit=5, event_types=wanted)
        pages.append(page)
        after = page.next
    # then the first two answer nothing but move on, the third finds the event, once
    assert [len(p.entries) for p in pages] == [0, 0, 1, 0]
    assert pages[0].next != START
    assert pages[1].next > pages[0].next
    assert pages[2].entries[0].event.id == removed.id
    assert pages[3].next == pages[2].next
