"""The order event feed: every order event once, each order's in version order, gap-safe.

The log is read the way `eventstore.store.read_all` reads it: in (transaction_id,
global_position) order, only rows of transactions below the snapshot's xmin, so an event
whose transaction commits late is never passed over. That order is not each stream's
version order (ARCHITECTURE.md, "Event store"): an older transaction can append v5 after
v4 committed, and the log then holds v5 before v4. The feed fixes that without any state of
its own:

- walking the log, `emitted(S)` is the highest version of stream S met so far. A row at or
  below it was already sent (pulled forward, below) and is skipped. A row above it is sent
  after the versions between (`emitted(S)+1 .. v-1`, read from the stream with
  `load_ranges`: every version below a committed one has committed), which are thereby
  pulled forward ahead of their own place in the log;
- so after any log row C, `emitted(S)` is simply the highest version of S at or before C in
  log order: one GROUP BY over the streams of the next page, and the walk resumes from a
  cursor alone. Rows at or before C all belong to finished transactions, so that answer
  never changes.

A position names an anchor row; an event sent at the anchor's own place resumes after the
anchor, a pulled-forward one at the anchor with the version reached (`FeedPosition.within`).
Filtering (event types, internal events) only hides events from the output: the walk, and so
every cursor, is the same for every reader.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from uuid import UUID

from eventstore.prepared import fetch_prepared
from eventstore.store import SELECT_COLUMNS, RecordedEvent, load_ranges, recorded_from_row

from .cloudevents import PUBLISHED_AGGREGATE_TYPE, is_published
from .cursor import FeedPosition, InvalidCursor

MAX_LIMIT = 1000
# A request reads the log in batches, at most this many, so one whose filter hides most
# rows still answers soon; its `next` then moves past what was read, so the reader gets on.
MAX_BATCHES = 10
# Unfiltered, a batch is the page plus a few rows for the ones it skips (events already sent,
# internal ones); filtered, it is larger, as most rows may be hidden.
_SLACK = 10
_MIN_FILTERED_BATCH = 100

_LOG_AFTER = (
    f"SELECT {SELECT_COLUMNS} FROM events "
    "WHERE (transaction_id, global_position) > (%s::text::xid8, %s) "
    "AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()) "
    "AND aggregate_type = %s "
    "ORDER BY transaction_id, global_position LIMIT %s"
)
_EMITTED_UP_TO = (
    "SELECT aggregate_id, max(version) FROM events "
    "WHERE aggregate_id = ANY(%b::uuid[]) "
    "AND (transaction_id, global_position) <= (%s::text::xid8, %s) "
    "GROUP BY aggregate_id"
)
_ANCHOR = (
    f"SELECT {SELECT_COLUMNS} FROM events "
    "WHERE transaction_id = %s::text::xid8 AND global_position = %s AND aggregate_type = %s"
)


@dataclass(frozen=True)
class FeedEntry:
    event: RecordedEvent
    position: FeedPosition


@dataclass(frozen=True)
class FeedPage:
    entries: list[FeedEntry]
    next: FeedPosition


def feed_read(
    *,
    after: FeedPosition,
    limit: int,
    event_types: Collection[str] | None = None,
) -> FeedPage:
    """Up to `limit` published order events after `after` (of `event_types` only, when
    given); `next` resumes after the last one, or after all that was read when the filter
    hid the rest."""
    entries: list[FeedEntry] = []
    reached = after
    if event_types is None:
        batch_size = min(limit + _SLACK, MAX_LIMIT)
    else:
        batch_size = min(max(limit, _MIN_FILTERED_BATCH), MAX_LIMIT)
    for event, position in _walk(after, batch_size=batch_size):
        reached = position
        if event is None or not is_published(event):
            continue
        if event_types is not None and event.event_type not in event_types:
            continue
        entries.append(FeedEntry(event, position))
        if len(entries) >= limit:
            break
    return FeedPage(entries, reached)


def _walk(
    after: FeedPosition, *, batch_size: int
) -> Iterator[tuple[RecordedEvent | None, FeedPosition]]:
    """The unfiltered feed after `after`: each event with the position that resumes right
    after it, and (None, position) for a log row that was already sent."""
    if after.within is not None:
        rest = _rest_of_anchor(after)
        if rest is None:
            return
        yield from rest
    anchor = after.anchor
    for _ in range(MAX_BATCHES):
        rows = [
            recorded_from_row(row)
            for row in fetch_prepared(
                _LOG_AFTER, [str(anchor[0]), anchor[1], PUBLISHED_AGGREGATE_TYPE, batch_size]
            )
        ]
        if not rows:
            return
        emitted = _emitted_versions(anchor, {row.aggregate_id for row in rows})
        pulled = _pulled_forward(rows, dict(emitted))
        for row in rows:
            seen = emitted.get(row.aggregate_id, 0)
            if row.version <= seen:
                yield None, FeedPosition(*row.position)
                continue
            for version in range(seen + 1, row.version):
                event = pulled.get((row.aggregate_id, version))
                if event is None:
                    # Cannot happen (every version below a committed one has committed);
                    # stopping here leaves no gap behind the cursor.
                    return
                yield event, FeedPosition(*row.position, within=version)
            emitted[row.aggregate_id] = row.version
            yield row, FeedPosition(*row.position)
        anchor = rows[-1].position
        if len(rows) < batch_size:
            return


def _rest_of_anchor(after: FeedPosition) -> list[tuple[RecordedEvent | None, FeedPosition]] | None:
    """Resume inside an anchor's pulled-forward versions: the ones after `within`, then
    the anchor itself (None if they cannot all be read, which cannot happen either)."""
    assert after.within is not None
    rows = fetch_prepared(
        _ANCHOR, [str(after.transaction_id), after.global_position, PUBLISHED_AGGREGATE_TYPE]
    )
    if not rows:
        raise InvalidCursor()
    head = recorded_from_row(rows[0])
    if not 0 <= after.within < head.version:
        raise InvalidCursor()
    between = load_ranges([(head.aggregate_id, after.within + 1, head.version - 1)])
    if [e.version for e in between] != list(range(after.within + 1, head.version)):
        return None
    rest: list[tuple[RecordedEvent | None, FeedPosition]] = [
        (event, FeedPosition(*after.anchor, within=event.version)) for event in between
    ]
    rest.append((head, FeedPosition(*after.anchor)))
    return rest


def _emitted_versions(anchor: tuple[int, int], streams: set[UUID]) -> dict[UUID, int]:
    """For each stream, the highest version at or before `anchor` in log order: what the
    feed has sent of it once it has passed the anchor."""
    if anchor == (0, 0):
        return {}
    rows = fetch_prepared(_EMITTED_UP_TO, [list(streams), str(anchor[0]), anchor[1]])
    return {aggregate_id: int(version) for aggregate_id, version in rows}


def _pulled_forward(
    rows: list[RecordedEvent], emitted: dict[UUID, int]
) -> dict[tuple[UUID, int], RecordedEvent]:
    """The versions the walk over `rows` sends ahead of their place in the log, read in
    one statement."""
    ranges: list[tuple[UUID, int, int]] = []
    for row in rows:
        seen = emitted.get(row.aggregate_id, 0)
        if row.version > seen:
            if row.version > seen + 1:
                ranges.append((row.aggregate_id, seen + 1, row.version - 1))
            emitted[row.aggregate_id] = row.version
    return {(e.aggregate_id, e.version): e for e in load_ranges(ranges)}
