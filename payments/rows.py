"""`insert_or_take`: create a row, or take the one already holding its unique key, in one
statement, for the idempotency records of payments and of the sandbox gateway."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import connection, models

from commerce_project.rows import model_from_row
from eventstore.prepared import execute_prepared, fetch_prepared

M = TypeVar("M", bound=models.Model)


def rows_returned(model: type[M], sql: str, params: list[Any]) -> list[M]:
    """Model instances of the rows a statement returns (`RETURNING` every concrete column,
    in `model._meta.concrete_fields` order); prepared on the server: these statements run
    several times per fulfilment saga."""
    return [model_from_row(model, row) for row in fetch_prepared(sql, params)]


def all_columns(model: type[models.Model]) -> str:
    return ", ".join(f.column for f in model._meta.concrete_fields)


def insert_or_take(obj: M, *, unique: str) -> M:
    """INSERT `obj`, or when a row with the same `unique` column exists, return that row as
    it is (no column changes). Either way the row is locked until the transaction ends:
    ON CONFLICT DO UPDATE, unlike DO NOTHING, locks and returns the existing row, so callers
    with the same key queue behind each other instead of both going on."""
    fields = list(obj._meta.concrete_fields)
    values = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    sql = (
        f"INSERT INTO {obj._meta.db_table} ({all_columns(type(obj))}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({unique}) DO UPDATE SET {unique} = EXCLUDED.{unique} "
        f"RETURNING {all_columns(type(obj))}"
    )
    return rows_returned(type(obj), sql, values)[0]


def update_where(model: type[models.Model], where: dict[str, Any], changes: dict[str, Any]) -> int:
    """`UPDATE … SET changes WHERE where` (equalities, by field name) written out rather than
    compiled by the ORM, which costs more CPU than the statement itself on the saga's path;
    values go through each field's own conversion. Returns the number of rows updated."""
    meta, quote = model._meta, connection.ops.quote_name
    fields: dict[str, models.Field[Any, Any]] = {
        name: meta.get_field(name)  # type: ignore[misc]
        for name in (*changes, *where)
    }
    assignments = ", ".join(f"{quote(fields[name].column or name)} = %s" for name in changes)
    conditions = " AND ".join(f"{quote(fields[name].column or name)} = %s" for name in where)
    params = [fields[name].get_db_prep_save(value, connection) for name, value in changes.items()]
    params += [fields[name].get_db_prep_value(value, connection) for name, value in where.items()]
    return execute_prepared(
        f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {conditions}", params
    )
