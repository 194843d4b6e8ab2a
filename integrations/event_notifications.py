"""Wake-ups for long-polling feed readers: one LISTEN connection per process.

A statement trigger on `events` (migration `0001_notify_on_event_insert`) calls
`pg_notify(CHANNEL, '')`; PostgreSQL delivers a notification only when the inserting
transaction commits, and folds the duplicates of one transaction into one. A daemon thread
holds the process's only listening connection and bumps a counter under a condition
variable; every waiting request waits on that condition, so a thousand waiting clients cost
one connection and no polling.

A waiter takes `mark()` *before* it reads, so a commit between its read and its wait still
wakes it. While the listener is down (database restart) waiters fall back to re-reading
every `_DEGRADED_POLL_SECONDS`, and a reconnect wakes everyone, as notifications may have
been missed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from django.db import connections

logger = logging.getLogger(__name__)

CHANNEL = "commerce_events"
_DEGRADED_POLL_SECONDS = 1.0
# How often the listener thread looks up from waiting, to notice stop().
_TICK_SECONDS = 1.0
_RECONNECT_SECONDS = 1.0
_READY_TIMEOUT_SECONDS = 5.0


class EventNotifications:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._commits = 0
        self._listening = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._start_lock = threading.Lock()

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def mark(self) -> int:
        """The current wake-up count; starts the listener on first use in a process."""
        self._ensure_started()
        with self._condition:
            return self._commits

    def wait_after(self, mark: int, timeout: float) -> bool:
        """Wait until a commit after `mark` (True) or `timeout` seconds (False)."""
        if timeout <= 0:
            return False
        if not self._listening.is_set():
            timeout = min(timeout, _DEGRADED_POLL_SECONDS)
        with self._condition:
            return self._condition.wait_for(lambda: self._commits != mark, timeout)

    def stop(self) -> None:
        """Close the listening connection (tests, before their database is dropped)."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        thread.join(_TICK_SECONDS * 5)
        self._thread = None
        self._stopping.clear()

    def _ensure_started(self) -> None:
        with self._start_lock:
            # A forked process (a gunicorn worker) has no copy of the parent's thread.
            if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
                return
            self._listening.clear()
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name="event-notifications", daemon=True
            )
            self._thread.start()
        # Until LISTEN has run a commit could go unnoticed; the first reader waits for it
        # (not long: on failure it reads in degraded mode).
        self._listening.wait(_READY_TIMEOUT_SECONDS)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except Exception:
                logger.exception("event notification listener lost its connection")
            finally:
                self._listening.clear()
            if not self._stopping.is_set():
                time.sleep(_RECONNECT_SECONDS)

    def _listen(self) -> None:
        wrapper = connections["default"]
        conn: Any = wrapper.get_new_connection(wrapper.get_connection_params())
        try:
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
            self._listening.set()
            self._wake()  # whatever committed while nobody listened
            while not self._stopping.is_set():
                for _ in conn.notifies(timeout=_TICK_SECONDS, stop_after=1):
                    self._wake()
        finally:
            conn.close()

    def _wake(self) -> None:
        with self._condition:
            self._commits += 1
            self._condition.notify_all()


event_notifications = EventNotifications()
