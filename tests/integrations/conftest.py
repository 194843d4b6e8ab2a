"""Order events written for feed tests: through `append` (as the app writes them) and, for
volume, as one bulk INSERT per transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import pytest
from django.db import connection

from eventstore.events import serialize_event
from eventstore.store import RecordedEvent, append
from integrations.cursor import START, FeedPosition
from integrations.event_notifications import event_notifications
from integrations.feed import FeedEntry, feed_read
from orders.domain import OrderItemQuantityChanged

PRODUCT_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")


def quantity_changed(quantity: int) -> OrderItemQuantityChanged:
    return OrderItemQuantityChanged(
        product_id=PRODUCT_ID, quantity=quantity, occurred_at=datetime(2026, 1, 1, tzinfo=UTC)
    )


def append_order_event(order_id: uuid.UUID, version: int) -> RecordedEvent:
    """Version `version` of order `order_id` (the quantity says which version it is)."""
    return append(order_id, "Order", version - 1, [quantity_changed(version)])[0]


def bulk_insert(rows: Iterable[tuple[uuid.UUID, int]]) -> None:
    """(order, version) rows in one INSERT on this thread's connection."""
    orders, versions = zip(*rows, strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO events (id, aggregate_id, aggregate_type, event_type, event_data, "
            "metadata, version) "
            "SELECT gen_random_uuid(), t.o, 'Order', 'OrderItemQuantityChanged', "
            "jsonb_set(%s::jsonb, '{quantity}', to_jsonb(t.v)), "
            "'{\"schema_version\": 1}'::jsonb, t.v "
            "FROM unnest(%s::uuid[], %s::int[]) WITH ORDINALITY AS t(o, v, n) ORDER BY t.n",
            [json.dumps(serialize_event(quantity_changed(0))), list(orders), list(versions)],
        )


def read_whole_feed(
    after: FeedPosition = START, *, limit: int = 1000, expected: int | None = None
) -> list[FeedEntry]:
    """Every entry the feed has after `after`, page by page. With `expected`, read until
    that many came (other sessions on the shared server can hold the xmin horizon back
    for a moment)."""
    import time

    entries: list[FeedEntry] = []
    deadline = time.monotonic() + 20
    while True:
        page = feed_read(after=after, limit=limit)
        entries.extend(page.entries)
        after = page.next
        if page.entries:
            continue
        if expected is None or len(entries) >= expected or time.monotonic() > deadline:
            return entries
        time.sleep(0.02)


@pytest.fixture
def notifications() -> Iterator[None]:
    """The process's listener, closed after the test (its connection would keep the test
    database from being dropped)."""
    yield
    event_notifications.stop()
