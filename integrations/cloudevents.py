"""Order events as CloudEvents 1.0 (JSON structured mode): the one shape the feed and the
webhooks send, so a consumer can read both with the same code.

`id` is the event's own id, stable across pages, retries and redeliveries, which is what a
receiver de-duplicates on. `data` goes through the same redaction as the API: a payment token
never leaves the service. Staff notes stay internal and are never published.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from eventstore.events import redacted_event_data, serialize_event
from eventstore.store import RecordedEvent
from orders.domain import INTERNAL_EVENT_TYPES, ORDER_EVENT_TYPES

SPEC_VERSION = "1.0"
SOURCE = "/commerce/orders"
TYPE_PREFIX = "commerce.orders."
PUBLISHED_AGGREGATE_TYPE = "Order"
# INTERNAL_EVENT_TYPES (staff notes, named by the orders app for every read surface) are
# written for people inside the shop; other services have no business reading them.


def published_event_types() -> frozenset[str]:
    """The store's event types that go out (what a `types` filter may name)."""
    return ORDER_EVENT_TYPES - INTERNAL_EVENT_TYPES


def cloudevent_type(event_type: str) -> str:
    """`OrderPaid` → `commerce.orders.OrderPaid`."""
    return TYPE_PREFIX + event_type


def event_type_of(cloudevent_type: str) -> str | None:
    """The store's event type behind a CloudEvents type, None for a type not ours."""
    if not cloudevent_type.startswith(TYPE_PREFIX):
        return None
    name = cloudevent_type[len(TYPE_PREFIX) :]
    return name or None


def is_published(event: RecordedEvent) -> bool:
    return (
        event.aggregate_type == PUBLISHED_AGGREGATE_TYPE
        and event.event_type not in INTERNAL_EVENT_TYPES
    )


def to_cloudevent(event: RecordedEvent, *, position: str) -> dict[str, Any]:
    """The envelope of one stored event; `position` is the feed cursor that resumes right
    after it (an extension attribute, as is `sequence`, the stream version)."""
    return {
        "specversion": SPEC_VERSION,
        "id": str(event.id),
        "source": SOURCE,
        "type": cloudevent_type(event.event_type),
        "subject": str(event.aggregate_id),
        "time": event.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "sequence": event.version,
        "position": position,
        "data": redacted_event_data(event.event_type, serialize_event(event.event)),
    }
