"""The rows of a list page, fetched the way the hot lists need them.

`ListRowsIterable` is eventstore.prepared's `PreparedValuesIterable` (a `values()`
QuerySet's rows as dicts, from a prepared statement in binary format) with jsonb decoded by
orjson: an order row carries three jsonb columns (items, address, refunds), and decoding
them with the standard library's `json` cost more than a tenth of a staff order page.
orjson gives the same values for the JSON PostgreSQL stores; what it reads differently (an
integer beyond 64 bits, which it makes a float) or refuses (a lone surrogate escape) goes
to `json` as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
from django.core.exceptions import EmptyResultSet
from psycopg.types.json import JsonbBinaryLoader

# The event store's cursor on Django's connection (same transaction, errors wrapped like
# Django's, preparing switched on), so that these statements behave exactly as its own.
from eventstore.prepared import PreparedValuesIterable, _cursor, _prepare

# 19 digits in a row: possibly an integer beyond 64 bits, which orjson reads as a float.
_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def json_loads(data: str | bytes) -> Any:
    if isinstance(data, str):
        data = data.encode()
    if _LONG_NUMBER.search(data):
        return json.loads(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


class _OrjsonJsonbBinaryLoader(JsonbBinaryLoader):
    _loads = staticmethod(json_loads)


def fetch_list_rows(sql: str, params: Sequence[Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of a prepared statement (placeholders `%s`), in binary, jsonb
    decoded by orjson."""
    with _cursor() as cursor:
        cursor.adapters.register_loader("jsonb", _OrjsonJsonbBinaryLoader)
        cursor.execute(sql, params, prepare=_prepare(), binary=True)
        description = cursor.description  # built on every access: once
        if not description:
            return [], []
        return [column.name for column in description], cursor.fetchall()


class ListRowsIterable(PreparedValuesIterable):
    """`qs._iterable_class = ListRowsIterable` after `values()`; slicing and filtering keep
    it. The statement does not show in `connection.queries` or `assertNumQueries`."""

    def __iter__(self) -> Iterator[dict[str, Any]]:
        queryset = self.queryset
        try:
            sql, params = queryset.query.get_compiler(queryset.db).as_sql()
        except EmptyResultSet:  # a filter nothing can match: Django sends no query either
            return
        names, rows = fetch_list_rows(sql, params)
        for row in rows:
            yield dict(zip(names, row, strict=True))
