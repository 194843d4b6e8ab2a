"""Feed cursors: where a reader of the feed has got to, as an opaque string.

A position is the (transaction_id, global_position) pair of an *anchor* row of the log,
plus, when the feed stopped in the middle of the versions it pulled forward before that
anchor (see `integrations.feed`), the stream version it emitted last there. The string is
URL-safe base64 of a short versioned text, so the format can change without clients
noticing; clients must not build or take cursors apart.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from commerce_project.errors import InvalidInput

_FORMAT = "1"
_TEXT = re.compile(r"^1\.(\d{1,20})\.(\d{1,19})(?:\.(\d{1,10}))?$")
_MAX_XID8 = 2**64 - 1
_MAX_BIGINT = 2**63 - 1
_MAX_VERSION = 2**31 - 1


class InvalidCursor(InvalidInput):
    def __init__(self, detail: str = "This is not a cursor the feed handed out.") -> None:
        super().__init__(detail, errors={"after": [detail]})


@dataclass(frozen=True, order=True)
class FeedPosition:
    """After the log row (transaction_id, global_position); `within` is set when only the
    versions up to `within` of the anchor's stream were emitted, not the anchor itself."""

    transaction_id: int
    global_position: int
    within: int | None = None

    @property
    def anchor(self) -> tuple[int, int]:
        return (self.transaction_id, self.global_position)


START = FeedPosition(0, 0)


def cursor_encode(position: FeedPosition) -> str:
    text = f"{_FORMAT}.{position.transaction_id}.{position.global_position}"
    if position.within is not None:
        text += f".{position.within}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def cursor_decode(cursor: str) -> FeedPosition:
    """The position a cursor names; `InvalidCursor` for anything the feed did not make."""
    if not cursor or len(cursor) > 100:
        raise InvalidCursor()
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None
    match = _TEXT.match(text)
    if match is None:
        raise InvalidCursor()
    transaction_id, global_position = int(match[1]), int(match[2])
    within = None if match[3] is None else int(match[3])
    if (
        transaction_id > _MAX_XID8
        or global_position > _MAX_BIGINT
        or (within is not None and within > _MAX_VERSION)
    ):
        raise InvalidCursor()
    position = FeedPosition(transaction_id, global_position, within)
    # Only the canonical spelling: base64 decoding skips stray characters and padding.
    if cursor_encode(position) != cursor:
        raise InvalidCursor()
    return position
