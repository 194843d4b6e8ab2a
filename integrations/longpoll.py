"""A feed read that waits for news: with nothing to send it holds the request until an
event commits or `wait` seconds pass (then it answers an empty page)."""

from __future__ import annotations

import time
from collections.abc import Collection

from .cursor import FeedPosition
from .event_notifications import event_notifications
from .feed import FeedPage, feed_read

MAX_WAIT_SECONDS = 30
# After a wake-up that brought nothing readable (a commit whose events still sit above the
# xmin horizon, because some older transaction is open, or one the filter hides), re-read
# after these pauses, doubling up to the cap, until the next wake-up or the deadline.
_RECHECK_FIRST_SECONDS = 0.05
_RECHECK_MAX_SECONDS = 1.0


def feed_read_waiting(
    *,
    after: FeedPosition,
    limit: int,
    event_types: Collection[str] | None = None,
    wait: float = 0,
) -> FeedPage:
    deadline = time.monotonic() + wait
    recheck: float | None = None
    while True:
        mark = event_notifications.mark() if wait > 0 else 0
        page = feed_read(after=after, limit=limit, event_types=event_types)
        remaining = deadline - time.monotonic()
        if page.entries or remaining <= 0:
            return page
        after = page.next
        timeout = remaining if recheck is None else min(remaining, recheck)
        if event_notifications.wait_after(mark, timeout):
            recheck = _RECHECK_FIRST_SECONDS
        elif recheck is not None:
            recheck = min(recheck * 2, _RECHECK_MAX_SECONDS)
