"""The command bus: one handler per command class, one transaction per command.

    @dataclass(frozen=True)
    class ConfirmOrder(Command):
        retry_on_conflict = True
        order_id: UUID

    @handles(ConfirmOrder)
    def confirm_order(command: ConfirmOrder) -> Order:
        order = orders.get(command.order_id)
        order.confirm()
        orders.save(order)
        return order

    dispatch(ConfirmOrder(order_id=...), actor=str(user.pk))

A handler loads, calls one domain method and saves. When the save loses a race
(`ConcurrencyError`) and the command is marked `retry_on_conflict` (safe because the
handler re-reads everything it decides on), the bus runs it again, up to
EVENTSTORE_COMMAND_RETRIES more times, then lets the error through (the API answers 409).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from django.conf import settings
from django.db import connection, transaction

from commerce_project.metrics import command_conflict_retries

from .exceptions import ConcurrencyError
from .metadata import current_metadata, metadata_context
from .store import command_block


@dataclass(frozen=True)
class Command:
    retry_on_conflict: ClassVar[bool] = False

    def metadata_actor(self) -> str | None:
        """Who acts, for the events' metadata when `dispatch` is not told: a command that
        carries its actor names it here."""
        return None


C = TypeVar("C", bound=Command)
Handler = Callable[[Any], Any]

_handlers: dict[type[Command], Handler] = {}


def handles(command_cls: type[C]) -> Callable[[Callable[[C], Any]], Callable[[C], Any]]:
    """Register the decorated function as the handler of `command_cls`."""

    def register(handler: Callable[[C], Any]) -> Callable[[C], Any]:
        existing = _handlers.get(command_cls)
        if existing is not None and existing.__qualname__ != handler.__qualname__:
            raise TypeError(f"{command_cls.__name__} already has a handler: {existing}")
        _handlers[command_cls] = handler
        return handler

    return register


def handler_for(command_cls: type[Command]) -> Handler:
    try:
        return _handlers[command_cls]
    except KeyError:
        raise LookupError(f"no handler registered for {command_cls.__name__}") from None


def dispatch(
    command: Command,
    *,
    actor: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> Any:
    """Run the command's handler in one transaction, with its metadata on every event.

    The correlation id defaults to the surrounding context (the request id in a request);
    the causation id defaults to a fresh id of this command, also recorded as `command_id`.
    """
    handler = handler_for(type(command))
    command_id = uuid.uuid4().hex
    inherited = current_metadata()
    retries = settings.EVENTSTORE_COMMAND_RETRIES if command.retry_on_conflict else 0
    with metadata_context(
        correlation_id=correlation_id or inherited.get("correlation_id") or command_id,
        causation_id=causation_id or command_id,
        actor=actor if actor is not None else command.metadata_actor(),
        command=type(command).__name__,
        command_id=command_id,
    ):
        for attempt in range(retries + 1):
            try:
                with transaction.atomic():
                    block = command_block.set(connection.atomic_blocks[-1])
                    try:
                        return handler(command)
                    finally:
                        command_block.reset(block)
            except ConcurrencyError:
                if attempt >= retries:
                    raise
                command_conflict_retries.labels(type(command).__name__).inc()
                _backoff(attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _backoff(attempt: int) -> None:
    base: float = settings.EVENTSTORE_COMMAND_RETRY_BACKOFF
    if base > 0:
        # Full jitter, so writers that collided do not collide again in lockstep.
        time.sleep(random.uniform(0, base * 2**attempt))
