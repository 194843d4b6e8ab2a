"""A feed read that waits for news: with nothing to send it holds the request until an
event commits or `wait` seconds pass (then it answers an empty page).

A waiting request holds a server thread, so only FEED_MAX_WAITING_REQUESTS wait at once in a
process; any more answer at once, as with `wait=0` (the client simply asks again).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager

from django.conf import settings

from .cursor import FeedPosition
from .event_notifications import event_notifications
from .feed import FeedPage, feed_read

MAX_WAIT_SECONDS = 30
# After a wake-up that brought nothing readable (a commit whose events still sit above the
# xmin horizon, because some older transaction is open, or one the filter hides), re-read
# after these pauses, doubling up to the cap, until the next wake-up or the deadline.
_RECHECK_FIRST_SECONDS = 0.05
_RECHECK_MAX_SECONDS = 1.0


class _WaitingRoom:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting = 0

    @contextmanager
    def seat(self) -> Iterator[bool]:
        """True while this request may wait (a seat is free), False otherwise."""
        with self._lock:
            seated = self._waiting < settings.FEED_MAX_WAITING_REQUESTS
            if seated:
                self._waiting += 1
        try:
            yield seated
        finally:
            if seated:
                with self._lock:
                    self._waiting -= 1


_waiting_room = _WaitingRoom()


def feed_read_waiting(
    *,
    after: FeedPosition,
    limit: int,
    event_types: Collection[str] | None = None,
    wait: float = 0,
) -> FeedPage:
    if wait <= 0:
        return feed_read(after=after, limit=limit, event_types=event_types)
    with _waiting_room.seat() as seated:
        if not seated:
            return feed_read(after=after, limit=limit, event_types=event_types)
        return _read_waiting(after=after, limit=limit, event_types=event_types, wait=wait)


def _read_waiting(
    *, after: FeedPosition, limit: int, event_types: Collection[str] | None, wait: float
) -> FeedPage:
    deadline = time.monotonic() + wait
    recheck: float | None = None
    while True:
        mark = event_notifications.mark()
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
