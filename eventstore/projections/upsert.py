"""Guarded bulk upserts into a read-model table, and how Python values are sent for them.

One statement per set of columns, the rows passed as one array per column and unnested:
plain values of one Python type as a typed array, mixed or unusual ones as text that
PostgreSQL parses, dict/list values of json/jsonb columns encoded as JSON (Decimal, UUID,
datetime as strings). A single row (every command's inline projection) is sent as scalar
parameters instead, each cast to its column's type, the same values encoded the same way.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connection

from ..prepared import execute_prepared
from .catalogue import TableInfo, table_info

Row = dict[str, Any]


def upsert_guarded(
    table: str, rows: Sequence[Row], key: str, version_column: str = "version"
) -> int:
    """INSERT the rows, or UPDATE the existing row with the same `key` only where the stored
    version is lower (`... ON CONFLICT (key) DO UPDATE ... WHERE version < EXCLUDED.version`).
    Rows with the same key are reduced to the highest version. One statement per set of
    columns, the rows passed as one array per column (one row: as scalars). Returns the
    number of rows written."""
    if not rows:
        return 0
    latest: dict[Any, Row] = {}
    for row in rows:
        current = latest.get(row[key])
        if current is None or row[version_column] > current[version_column]:
            latest[row[key]] = row
    info = table_info(table)
    if len(latest) == 1:
        # One row (every command's inline projection): scalar parameters cost a fraction
        # of one-element arrays to send.
        [row] = latest.values()
        columns = tuple(row)
        return execute_prepared(
            _single_row_sql(table, info, columns, key, version_column),
            [_scalar_param(row[c], c in info.json) for c in columns],
        )
    groups: dict[tuple[str, ...], list[Row]] = {}
    for row in latest.values():
        groups.setdefault(tuple(row), []).append(row)
    qn = connection.ops.quote_name
    written = 0
    for columns, group in groups.items():
        arrays: list[list[Any]] = []
        placeholders = []
        selected = []
        for column in columns:
            column_type = info.types[column]
            values = [row[column] for row in group]
            if column in info.json:
                values = [_json_param(v) for v in values]
                placeholders.append("%b::text[]")
                selected.append(f"u.{qn(column)}::{column_type}")
            elif _uniform(values):
                placeholders.append(f"%b::{column_type}[]")
                selected.append(f"u.{qn(column)}")
            else:
                # Mixed or unusual Python types: let PostgreSQL parse their text.
                values = [_text_param(v) for v in values]
                placeholders.append("%b::text[]")
                selected.append(f"u.{qn(column)}::{column_type}")
            arrays.append(values)
        column_list = ", ".join(qn(c) for c in columns)
        # Rows in key order, the same in every writer, so two upserts cannot deadlock.
        written += execute_prepared(
            f"INSERT INTO {qn(table)} AS t ({column_list}) "
            f"SELECT {', '.join(selected)} FROM unnest({', '.join(placeholders)}) "
            f"AS u({column_list}) ORDER BY u.{qn(key)} " + _if_newer(columns, key, version_column),
            arrays,
        )
    return written


def _if_newer(columns: Sequence[str], key: str, version_column: str) -> str:
    """The upsert's conflict clause: update the row with the same key, only to a newer
    version."""
    qn = connection.ops.quote_name
    updates = ", ".join(f"{qn(c)} = EXCLUDED.{qn(c)}" for c in columns if c != key)
    return (
        f"ON CONFLICT ({qn(key)}) DO UPDATE SET {updates} "
        f"WHERE t.{qn(version_column)} < EXCLUDED.{qn(version_column)}"
    )


def _single_row_sql(
    table: str, info: TableInfo, columns: tuple[str, ...], key: str, version_column: str
) -> str:
    """The one-row upsert of `columns`: each value sent on its own and cast to its column's
    type (text for JSON and unusual values, which PostgreSQL parses). Built once per table
    and set of columns."""
    cache_key = ("single-row upsert", table, columns, key, version_column)
    sql = info.statements.get(cache_key)
    if sql is None:
        qn = connection.ops.quote_name
        sql = (
            f"INSERT INTO {qn(table)} AS t ({', '.join(qn(c) for c in columns)}) "
            f"VALUES ({', '.join(f'%b::{info.types[c]}' for c in columns)}) "
            + _if_newer(columns, key, version_column)
        )
        info.statements[cache_key] = sql
    return sql


def _scalar_param(value: Any, json_column: bool) -> Any:
    if json_column:
        return _json_param(value)
    if value is None or type(value) in _BINARY_TYPES:
        return value
    return _text_param(value)


_BINARY_TYPES = (str, bool, int, Decimal, UUID, datetime, date)


def _uniform(values: list[Any]) -> bool:
    """All non-null values of one plain type psycopg sends as a typed array."""
    kind: type | None = None
    for value in values:
        if value is None:
            continue
        if kind is None:
            kind = type(value)
            if kind not in _BINARY_TYPES:
                return False
        elif type(value) is not kind:
            return False
    return kind is not None


def _text_param(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _json_param(value: Any) -> str | None:
    if value is None:
        return None
    return _encode_json(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in a JSON column")


_encode_json = json.JSONEncoder(separators=(",", ":"), default=_json_default).encode
