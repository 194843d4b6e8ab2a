"""The guard around kombu's Redis channel close (commerce_project/kombu_guard.py). The real
proof, a worker whose broker restarts under it, is tests/sagas/test_broker_outage.py."""

from __future__ import annotations

from queue import Empty

import redis
from kombu.transport import redis as kombu_redis

from commerce_project import kombu_guard


class ChannelStub:
    """What the guard touches of a kombu Redis channel, and what its close does."""

    connection_errors = (redis.ConnectionError,)

    def __init__(self, pending_reply: BaseException | None) -> None:
        self._in_poll = pending_reply is not None
        self.pending_reply = pending_reply
        self.closed = False

    def _brpop_read(self) -> None:
        self._in_poll = False  # as kombu's, whatever the outcome
        assert self.pending_reply is not None
        raise self.pending_reply

    def close(self) -> None:
        assert not self._in_poll, "the original close would read the pending reply again"
        self.closed = True


def guarded_close(channel: ChannelStub) -> None:
    kombu_guard._guarded_close(ChannelStub.close)(channel)


def test_a_channel_whose_pending_brpop_lost_its_connection_still_closes() -> None:
    channel = ChannelStub(redis.ConnectionError("Connection closed by server."))
    guarded_close(channel)
    assert channel.closed


def test_a_channel_with_no_reply_pending_or_an_empty_one_closes_as_before() -> None:
    for channel in (ChannelStub(None), ChannelStub(Empty())):
        guarded_close(channel)
        assert channel.closed


def test_the_guard_is_installed_once_on_the_affected_kombu() -> None:
    # installed by commerce_project.celery, which Django imports at start-up
    assert kombu_guard.install()
    close = kombu_redis.Channel.close
    assert getattr(close, "__kombu_guard__", False)
    assert kombu_guard.install()
    assert kombu_redis.Channel.close is close
