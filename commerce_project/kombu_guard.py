"""A guard for a kombu bug that makes a Celery worker exit when its Redis broker goes away.

The bug (kombu <= 5.7.0, the latest release; made fatal by celery 5.7.0):
`kombu.transport.redis.Channel.close()` first reads the reply of the BRPOP it has pending
and catches only `Empty`. When the broker is gone that read raises a connection error, and
`close()` stops there: the channel is never marked closed. celery 5.7.0's reconnect path
(`Consumer.on_connection_error_after_connected`) calls `connection.collect()`, which
swallows that error and then detaches the transport (`transport.client = None`), and then
`connection.close()`, which closes the half-closed channel again. This time `close()` goes
on to restore the unacknowledged messages (`acks_late`: the task in flight), creates a new
Redis pool from the detached transport and fails with `AttributeError: 'NoneType' object has
no attribute 'hostname'`. That is no connection error, so celery treats it as fatal:
"Unrecoverable error" and the worker exits (issue 10; tests/sagas/test_broker_outage.py).
celery 5.6.3 does not call `close()` after `collect()` and survives, but 5.7.0 also brings
fixes to the same reconnect path (sockets of a silent broker bounded during cleanup, timers
of the lost connection cancelled), so we keep it and guard the channel instead.

The guard: when the pending BRPOP reply cannot be read because the connection is lost,
treat it as no reply (the message, if any, is still in Redis's unacked index) and close the
channel as usual. `_brpop_read` resets `_in_poll` whatever happens, so the original
`close()` then goes on: it disconnects its pools and tries to restore the unacked messages
through the still-attached transport. That fails with a connection error while the broker
is down, which kombu and celery already swallow; the message of the task in flight then
stays in the unacked index until the visibility timeout restores it, and a saga whose run
is lost is published again by the sweeper.

Applied only to the kombu versions known to have the bug; after an upgrade the broker
outage test tells whether it is still needed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from importlib.metadata import version
from queue import Empty
from typing import Any

from kombu.transport import redis as kombu_redis
from packaging.version import Version

logger = logging.getLogger(__name__)

LAST_AFFECTED_KOMBU = Version("5.7.0")


def _drain_pending_brpop(channel: Any) -> None:
    """Read the reply of the channel's pending BRPOP, if any, as `close()` does, but let a
    lost connection count as no reply instead of aborting the close."""
    if not channel._in_poll:
        return
    try:
        channel._brpop_read()
    except Empty:
        pass
    except channel.connection_errors as exc:
        logger.info("closing a Redis channel whose broker connection is lost (%r)", exc)


def _guarded_close(close: Callable[[Any], None]) -> Callable[[Any], None]:
    @functools.wraps(close)
    def guarded_close(channel: Any) -> None:
        _drain_pending_brpop(channel)
        close(channel)

    guarded_close.__kombu_guard__ = True  # type: ignore[attr-defined]
    return guarded_close


def install() -> bool:
    """Wrap the Redis channel's close (once); False when this kombu does not need it."""
    if Version(version("kombu")) > LAST_AFFECTED_KOMBU:
        return False
    channel_class = kombu_redis.Channel
    if not getattr(channel_class.close, "__kombu_guard__", False):
        setattr(channel_class, "close", _guarded_close(channel_class.close))  # noqa: B010
    return True
