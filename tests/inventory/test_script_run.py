"""`script_run`, the Lua script call every token request makes (inventory.stock_cache):
EVALSHA on a connection each thread keeps, with what redis-py's own path gives — the script
loaded again when Redis forgot it, a dropped connection replaced, a failed send retried once
— and redis-py's path itself when OpenTelemetry wraps it."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from django.test import override_settings
from redis.connection import AbstractConnection

from inventory import stock_cache
from inventory.stock_cache import redis_client, script_run

ECHO = "return {KEYS[1], ARGV[1], #KEYS, #ARGV}"


def test_a_script_gets_its_keys_and_arguments() -> None:
    assert script_run(ECHO, keys=["k1", "k2"], args=["a", 2, 3]) == ["k1", "a", 2, 3]


def test_a_script_redis_forgot_is_loaded_again(raw_redis: redis.Redis) -> None:
    script_run(ECHO, keys=["k"], args=["a"])
    raw_redis.script_flush()
    assert script_run(ECHO, keys=["k"], args=["b"]) == ["k", "b", 1, 1]


def test_a_thread_runs_its_scripts_on_one_connection_of_its_own() -> None:
    def scripts() -> tuple[Any, Any]:
        script_run(ECHO, keys=["k"], args=["first"])
        connection = stock_cache._thread_connection(redis_client())
        socket = connection._sock
        for n in range(5):
            script_run(ECHO, keys=["k"], args=[n])
        with pytest.raises(redis.ResponseError):
            script_run("return redis.error_reply('no')", keys=[], args=[])
        assert script_run(ECHO, keys=["k"], args=["after"]) == ["k", "after", 1, 1]
        assert stock_cache._thread_connection(redis_client()) is connection
        assert connection._sock is socket  # not reconnected either
        return connection, socket

    here = scripts()
    elsewhere: list[tuple[Any, Any]] = []
    thread = threading.Thread(target=lambda: elsewhere.append(scripts()))
    thread.start()
    thread.join()
    assert elsewhere[0][0] is not here[0]
    # the pool lends nothing for it
    assert not redis_client().connection_pool._in_use_connections


def test_a_forked_process_makes_a_connection_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    script_run(ECHO, keys=["k"], args=["a"])
    parents = stock_cache._thread_connection(redis_client())
    # as in a child after fork (for this module only: redis-py's own pid checks stay)
    monkeypatch.setattr(stock_cache, "os", SimpleNamespace(getpid=lambda: -1))
    assert stock_cache._thread_connection(redis_client()) is not parents
    assert script_run(ECHO, keys=["k"], args=["child"]) == ["k", "child", 1, 1]


def test_a_connection_redis_dropped_is_replaced(raw_redis: redis.Redis) -> None:
    script_run(ECHO, keys=["k"], args=["a"])
    # Redis drops every other client: the pooled connection is dead
    raw_redis.client_kill_filter(_type="normal", skipme=True)
    assert script_run(ECHO, keys=["k"], args=["again"]) == ["k", "again", 1, 1]


def test_a_connection_error_while_sending_is_retried_once(monkeypatch: pytest.MonkeyPatch) -> None:
    script_run(ECHO, keys=["k"], args=["a"])
    send = AbstractConnection.send_packed_command
    failures: list[int] = []

    def flaky(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        if len(failures) < 1:
            failures.append(1)
            self.disconnect()
            raise redis.ConnectionError("connection reset")
        send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", flaky)
    assert script_run(ECHO, keys=["k"], args=["again"]) == ["k", "again", 1, 1]
    assert failures == [1]


def test_a_second_connection_error_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def down(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        raise redis.ConnectionError("connection reset")

    with monkeypatch.context() as patched:  # undone before the fixtures' own Redis calls
        patched.setattr(AbstractConnection, "send_packed_command", down)
        with pytest.raises(redis.ConnectionError):
            script_run(ECHO, keys=["k"], args=["a"])
    # and the next call connects again
    assert script_run(ECHO, keys=["k"], args=["b"]) == ["k", "b", 1, 1]


def test_an_unreachable_redis_raises_a_redis_error() -> None:
    with (
        override_settings(REDIS_URL="redis://127.0.0.1:1/0"),
        pytest.raises(redis.ConnectionError),
    ):
        script_run(ECHO, keys=["k"], args=["a"])


def test_a_wrapped_client_runs_the_script_through_its_wrapper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given execute_command wrapped, as OpenTelemetry's redis instrumentation does
    calls: list[tuple[Any, ...]] = []
    original: Callable[..., Any] = redis.Redis.execute_command

    @functools.wraps(original)  # sets __wrapped__, as wrapt's proxies have it
    def traced(self: redis.Redis, *args: Any, **options: Any) -> Any:
        calls.append(args)
        return original(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", traced)
    # when a script runs
    reply = script_run(ECHO, keys=["k"], args=["a"])
    # then it went through the wrapper (a span per command)
    assert reply == ["k", "a", 1, 1]
    assert [args[0] for args in calls] == ["EVALSHA"]


class Interrupted(BaseException):
    pass


def test_an_interruption_between_send_and_read_drops_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script_run(ECHO, keys=["k"], args=["a"])
    connection = stock_cache._thread_connection(redis_client())

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise Interrupted  # the command was sent, its reply is never read

    with monkeypatch.context() as patched:
        patched.setattr(connection, "read_response", interrupted)
        with pytest.raises(Interrupted):
            script_run(ECHO, keys=["k"], args=["lost"])
    # the next script reads its own reply, not the one left unread
    assert script_run(ECHO, keys=["k"], args=["next"]) == ["k", "next", 1, 1]
