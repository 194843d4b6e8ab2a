"""The `position` extension of a webhook body: the feed cursor of the event's own row of the
log, so a receiver that missed something can read on from the feed. (Webhooks go out per
subscription and order, not in the feed's order, so it is a place to resume near, not a
promise that everything before it arrived.)"""

from __future__ import annotations

from eventstore.store import Position
from integrations.cursor import FeedPosition, cursor_encode


def encode_position(position: Position) -> str:
    return cursor_encode(FeedPosition(*position))
