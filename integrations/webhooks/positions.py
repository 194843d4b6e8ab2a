"""The `position` extension of a webhook body: the feed cursor that resumes right after the
event, so a receiver that missed something can catch up from the feed.

Kept local until the feed's own cursor encoder is merged; the format is the same (urlsafe
base64 of "transaction_id.global_position")."""

from __future__ import annotations

import base64

from eventstore.store import Position


def encode_position(position: Position) -> str:
    return base64.urlsafe_b64encode(f"{position[0]}.{position[1]}".encode()).decode()
