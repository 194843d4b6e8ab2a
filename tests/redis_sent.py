"""The Redis commands a block of test code sends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis.connection import AbstractConnection


@contextmanager
def redis_commands_sent() -> Iterator[list[Any]]:
    """Every command (or pipeline: one write) any Redis connection of this process writes
    to its socket inside the block, packed as sent."""
    sent: list[Any] = []
    send = AbstractConnection.send_packed_command

    def record(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        sent.append(command)
        send(self, command, check_health)

    AbstractConnection.send_packed_command = record  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
