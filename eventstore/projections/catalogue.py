"""What PostgreSQL's system catalogue says about a projection's table.

`table_info` (columns, their SQL types, which are JSON) is cached by table name: the fold
builds its SQL from it on every batch, and the shadow and temporary copies of a table have
the same columns as the table they copy. `forget_table_types` drops the cache after DDL
that changes tables; `table_info_read` reads past it. The rebuild's swap asks the catalogue
for the rest: index names, foreign keys and the views that read the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import connection


@dataclass(frozen=True)
class TableInfo:
    columns: tuple[str, ...]
    types: dict[str, str]  # column: SQL type, as format_type() spells it
    json: frozenset[str]
    # SQL built from these types (upsert), dropped with them by `forget_table_types`.
    statements: dict[Any, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def select_list(self) -> str:
        return ", ".join(connection.ops.quote_name(c) for c in self.columns)


_table_info_cache: dict[str, TableInfo] = {}


def table_info(table: str) -> TableInfo:
    """Columns and types of a table (cached by name: the shadow and temporary copies have
    the same columns as the table they copy)."""
    cached = _table_info_cache.get(table)
    if cached is None:
        cached = table_info_read(table)
        _table_info_cache[table] = cached
    return cached


def table_info_read(table: str) -> TableInfo:
    """Columns and types of a table as the catalogue has them now (not cached)."""
    found = _catalogue_rows(
        "SELECT attname, format_type(atttypid, atttypmod), "
        "atttypid IN ('json'::regtype, 'jsonb'::regtype) "
        "FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum",
        [table],
    )
    return TableInfo(
        columns=tuple(r[0] for r in found),
        types={r[0]: r[1] for r in found},
        json=frozenset(r[0] for r in found if r[2]),
    )


def forget_table_types() -> None:
    """Drop cached column types (after DDL that changes tables)."""
    _table_info_cache.clear()


def index_names(table: str) -> dict[tuple[Any, ...], str]:
    """Index name by what the index is (kind and definition without its name), so a
    copy's indexes can be matched with the originals."""
    found = _catalogue_rows(
        """
        SELECT ic.relname, i.indisprimary, i.indisunique,
               regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', ''),
               row_number() OVER (
                   PARTITION BY regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', ''),
                                i.indisprimary, i.indisunique
                   ORDER BY ic.relname)
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = %s::regclass
        """,
        [table],
    )
    return {(r[1], r[2], r[3], r[4]): r[0] for r in found}


def foreign_keys(table: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's foreign keys (`LIKE` does not copy them)."""
    return _catalogue_pairs(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
        [table],
    )


def dependent_views(table: str) -> list[tuple[str, str]]:
    """(name, definition) of the views that read the table, the definition taken while the
    table still has its name, so that it names the table and not its renamed copy."""
    return _catalogue_pairs(
        "SELECT DISTINCT v.oid::regclass::text, pg_get_viewdef(v.oid) "
        "FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
        "JOIN pg_class v ON v.oid = r.ev_class "
        "WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass "
        "AND d.refobjid = %s::regclass AND v.oid <> %s::regclass AND v.relkind = 'v'",
        [table, table],
    )


def _catalogue_pairs(sql: str, params: list[Any]) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in _catalogue_rows(sql, params)]


def _catalogue_rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
