"""Server-side prepared statements on Django's database connection.

Django binds parameters on the client and never prepares. The event store runs a handful
of statements thousands of times (append, stream and log reads, read-model upserts), and for
those parsing and planning is a large part of the cost, so they go through here: same
connection, same transaction, errors wrapped like Django's. Results are fetched in binary
format (faster to decode; jsonb arrives decoded, by orjson: eventstore.jsonb).

Django opens its psycopg connections with `prepare_threshold=None`, which turns preparing
off; the first use here sets a threshold so high that nothing is prepared automatically and
only these explicit requests are. Django's own queries use client-side binding and are
never prepared either way. EVENTSTORE_PREPARED_STATEMENTS=false keeps everything unprepared
(for a pooler in transaction mode without prepared-statement support): nothing is requested.

These statements bypass Django's cursor wrapper, so they do not show in
`connection.queries` or `assertNumQueries`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import psycopg
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models.query import ValuesIterable
from psycopg import pq

from eventstore.jsonb import JsonbLoader

_ONLY_WHEN_ASKED = 2**31 - 1


def fetch_prepared(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Rows of a prepared statement (placeholders `%s`, or `%b` for binary parameters; or
    `%(name)s` with a mapping)."""
    with _cursor() as cursor:
        cursor.execute(sql, params, prepare=_prepare(), binary=True)
        return cursor.fetchall() if _returned_rows(cursor) else []


def fetch_prepared_described(
    sql: str, params: Sequence[Any] | Mapping[str, Any]
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of a prepared statement (placeholders `%s`, or `%(name)s` with
    a mapping)."""
    with _cursor() as cursor:
        cursor.execute(sql, params, prepare=_prepare(), binary=True)
        if not _returned_rows(cursor):
            return [], []
        result = cursor.pgresult
        assert result is not None
        names = [(result.fname(i) or b"").decode() for i in range(result.nfields)]
        return names, cursor.fetchall()


def execute_prepared(sql: str, params: Sequence[Any]) -> int:
    """Run a prepared statement; the number of rows it affected."""
    with _cursor() as cursor:
        cursor.execute(sql, params, prepare=_prepare())
        return cursor.rowcount


def single_statement_block() -> AbstractContextManager[object]:
    """What a change made by one statement runs in: nothing more in autocommit (a statement
    is atomic by itself; a block of its own would only add BEGIN and COMMIT round trips), a
    savepoint inside a caller's transaction (so that a failing statement leaves the caller's
    transaction usable, as it would in a block of its own)."""
    if connection.in_atomic_block:
        return transaction.atomic()
    return nullcontext()


class PreparedValuesIterable(ValuesIterable):
    """The rows of a `values()` QuerySet as dicts, fetched as a prepared statement in binary:
    psycopg decodes each column (jsonb included) into what Django's converters would make
    of it, so none run, and the server plans a page's query once per connection instead of
    on every request. Django still compiles the SQL; use it for plain columns (names are
    the result's column aliases). `qs._iterable_class = PreparedValuesIterable` after
    `values()`; slicing and filtering keep it. The statement does not show in
    `connection.queries` or `assertNumQueries`."""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        queryset = self.queryset
        try:
            sql, params = queryset.query.get_compiler(queryset.db).as_sql()
        except EmptyResultSet:  # a filter nothing can match: Django sends no query either
            return
        names, rows = fetch_prepared_described(sql, params)
        for row in rows:
            yield dict(zip(names, row, strict=True))


def _returned_rows(cursor: psycopg.Cursor[Any]) -> bool:
    """Whether the statement returned a result set. Read off the result itself:
    `cursor.description` builds a Column object per column each time it is read, and these
    statements run tens of times per saga."""
    result = cursor.pgresult
    return result is not None and result.status == pq.ExecStatus.TUPLES_OK


def _prepare() -> bool | None:
    return True if settings.EVENTSTORE_PREPARED_STATEMENTS else None


def configured_connection() -> psycopg.Connection[Any]:
    """Django's psycopg connection, opened, and configured on its first use here (Django
    opens them with prepare_threshold=None, which marks it as not yet configured): jsonb in
    binary results decoded by orjson (Django reads jsonb as text and decodes it itself, so
    its queries are not affected), and preparing on request only (with
    EVENTSTORE_PREPARED_STATEMENTS off nothing requests it)."""
    connection.ensure_connection()
    raw: psycopg.Connection[Any] = connection.connection
    if raw.prepare_threshold is None:
        raw.adapters.register_loader("jsonb", JsonbLoader)
        raw.prepare_threshold = _ONLY_WHEN_ASKED
    return raw


class _cursor:
    def __enter__(self) -> psycopg.Cursor[Any]:
        raw = configured_connection()
        connection.validate_no_broken_transaction()
        self._errors = connection.wrap_database_errors
        self._errors.__enter__()
        self._cursor: psycopg.Cursor[Any] = psycopg.Cursor(raw)
        return self._cursor

    def __exit__(self, *exc: Any) -> None:
        self._cursor.close()
        self._errors.__exit__(*exc)
