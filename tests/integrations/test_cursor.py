"""Feed cursors are opaque, round-trip exactly, and anything else is refused."""

from __future__ import annotations

import base64

import pytest

from integrations.cursor import FeedPosition, InvalidCursor, cursor_decode, cursor_encode


@pytest.mark.parametrize(
    "position",
    [
        FeedPosition(0, 0),
        FeedPosition(1404, 802),
        FeedPosition(2**64 - 1, 2**63 - 1),
        FeedPosition(9_000_000_001, 17, within=3),
        FeedPosition(5, 6, within=0),
    ],
)
def test_a_cursor_names_the_position_it_was_made_from(position: FeedPosition) -> None:
    # when
    cursor = cursor_encode(position)
    # then
    assert cursor_decode(cursor) == position
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64 at all!",
        _b64("2.1.1"),  # an unknown format
        _b64("1.1"),
        _b64("1.-1.5"),
        _b64("1.1.5.x"),
        _b64(f"1.{2**64}.5"),  # beyond xid8
        _b64(f"1.1.{2**63}"),  # beyond bigint
        _b64("1.1.5") + "==",  # padded: not the spelling the feed hands out
        _b64("1.1.5") + "!",
        "A" * 101,
    ],
)
def test_anything_else_is_an_invalid_cursor(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        cursor_decode(cursor)
