"""The SQL a block of test code sends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import connection


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
