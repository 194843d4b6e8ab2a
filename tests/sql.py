"""The SQL a block of test code sends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import connection, transaction


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement sent through Django's connection inside the block, as written
    (placeholders, not values)."""
    sent: list[str] = []

    def record(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        sent.append(sql)
        return execute(sql, *args)

    with connection.execute_wrapper(record):
        yield sent


@contextmanager
def statements_sent() -> Iterator[list[str]]:
    """Every SQL statement any psycopg cursor of this process executes inside the block:
    Django's, and the prepared statements that bypass Django's cursor wrapper
    (eventstore.prepared: the event store, the hot reads and the list pages)."""
    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def record(cursor: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(query if isinstance(query, str) else repr(query))
        return execute(cursor, query, *args, **kwargs)

    psycopg.Cursor.execute = record  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        psycopg.Cursor.execute = execute  # type: ignore[method-assign]


@contextmanager
def transaction_blocks() -> Iterator[list[str]]:
    """The transaction blocks Django's `atomic` opens inside the block, in order: "BEGIN"
    for an outermost one (a transaction: BEGIN and COMMIT round trips), "SAVEPOINT" for a
    nested one that makes a savepoint (SAVEPOINT and RELEASE round trips). Statements run
    outside any block are in autocommit and cost neither."""
    opened: list[str] = []
    enter = transaction.Atomic.__enter__

    def record(self: transaction.Atomic) -> None:
        current = transaction.get_connection(self.using)
        if not current.in_atomic_block:
            opened.append("BEGIN")
        elif self.savepoint and not current.needs_rollback:
            opened.append("SAVEPOINT")
        enter(self)

    transaction.Atomic.__enter__ = record  # type: ignore[method-assign]
    try:
        yield opened
    finally:
        transaction.Atomic.__enter__ = enter  # type: ignore[method-assign]
