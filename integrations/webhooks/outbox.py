"""The outbox consumer: a catch-up projection (no table of its own) that reads the event log
from its checkpoint and creates one delivery per (subscription, published event).

It runs from the webhook pump task (and `run_async_projections`) through the event store's
`run_projection`: each batch's deliveries and the new checkpoint commit in one transaction,
and the unique (subscription, event) constraint with ON CONFLICT DO NOTHING makes a batch
that is handled twice (a crash between the two is impossible, a manual reset is not) create
nothing new. Nothing is lost and nothing is duplicated.

Which subscriptions get an event: the active ones whose `event_types` hold its CloudEvents
type or "*", and that were created before the event committed: the event's transaction is
not visible in the subscription's `created_snapshot`.

Per-order ordering needs every earlier version of an order to have its delivery before a
later one is claimed. `read_all` is in (transaction_id, global_position) order, not version
order: v5 appended under an older transaction id can be read one batch before v4. So with
each batch the consumer also creates the deliveries of the earlier versions of its orders
that lie ahead of the batch (read with `load_ranges`); when the reader reaches them, the
conflict clause skips them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from eventstore.projections import Projection, register_projection
from eventstore.store import RecordedEvent, load_ranges
from integrations.cloudevents import cloudevent_type, is_published, to_cloudevent

from .positions import encode_position

OUTBOX_PROJECTION = "webhook_outbox"

_INSERT_DELIVERIES = """
INSERT INTO webhook_deliveries (
    subscription_id, event_id, event_type, order_id, sequence, payload, status, attempts,
    next_attempt_at, last_response_body, last_error, created_at
)
SELECT s.id, u.event_id, u.event_type, u.order_id, u.sequence, u.payload, 'PENDING', 0,
       now(), '', '', now()
FROM unnest(%s::uuid[], %s::text[], %s::uuid[], %s::int[], %s::text[], %s::text[])
     AS u(event_id, event_type, order_id, sequence, transaction_id, payload)
JOIN webhook_subscriptions s
  ON s.active
 AND (s.event_types ? '*' OR s.event_types ? u.event_type)
 AND NOT pg_visible_in_snapshot(u.transaction_id::xid8, s.created_snapshot::pg_snapshot)
ORDER BY u.order_id, u.sequence, s.id
ON CONFLICT (subscription_id, event_id) DO NOTHING
"""


def cloudevent_body(event: RecordedEvent) -> str:
    """The exact body sent (and signed) for `event`."""
    envelope = to_cloudevent(event, position=encode_position(event.position))
    return json.dumps(envelope, cls=DjangoJSONEncoder, separators=(",", ":"))


def earlier_versions_ahead(
    events: Sequence[RecordedEvent], frontier: tuple[int, int]
) -> list[RecordedEvent]:
    """Earlier versions of the batch's orders that the reader has not reached yet."""
    latest: dict[UUID, int] = {}
    for event in events:
        latest[event.aggregate_id] = max(latest.get(event.aggregate_id, 0), event.version)
    ranges = [(order_id, 1, version - 1) for order_id, version in latest.items() if version > 1]
    if not ranges:
        return []
    return [e for e in load_ranges(ranges) if e.position > frontier]


def create_deliveries(events: Sequence[RecordedEvent], frontier: tuple[int, int]) -> int:
    """Deliveries for the published `events` (and the earlier versions ahead of `frontier`)
    to every subscription that wants them; returns how many were created."""
    published = [e for e in events if is_published(e)]
    if not published:
        return 0
    chosen: dict[UUID, RecordedEvent] = {e.id: e for e in published}
    for event in earlier_versions_ahead(published, frontier):
        if is_published(event):
            chosen.setdefault(event.id, event)
    batch = list(chosen.values())
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_DELIVERIES,
            [
                [e.id for e in batch],
                [cloudevent_type(e.event_type) for e in batch],
                [e.aggregate_id for e in batch],
                [e.version for e in batch],
                [str(e.transaction_id) for e in batch],
                [cloudevent_body(e) for e in batch],
            ],
        )
        return cursor.rowcount


@register_projection
class WebhookOutbox(Projection):
    """Creates webhook deliveries from the event log (see the module docstring)."""

    name = OUTBOX_PROJECTION
    inline = False

    def handle(self, events: Sequence[RecordedEvent]) -> None:
        if events:
            create_deliveries(events, frontier=events[-1].position)
