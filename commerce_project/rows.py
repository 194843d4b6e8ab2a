"""Model instances from rows that a written-out statement returned, without the ORM's query
compilation (the hot reads and writes of orders, payments and sagas)."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, models

M = TypeVar("M", bound=models.Model)


@functools.cache
def _fields(model: type[models.Model]) -> tuple[list[str], frozenset[int]]:
    fields = model._meta.concrete_fields
    json_at = frozenset(i for i, f in enumerate(fields) if isinstance(f, models.JSONField))
    return [f.attname for f in fields], json_at


def model_from_row(model: type[M], values: Sequence[Any]) -> M:
    """`model` from the values of its concrete fields, in their order. jsonb arrives as text
    through Django's cursor (decoded here: `from_db` does not run the fields' converters)
    and decoded in a prepared statement's binary results."""
    names, json_at = _fields(model)
    if len(values) != len(names):
        raise ValueError(f"{model.__name__} has {len(names)} columns, the row {len(values)}")
    decoded = [
        json.loads(value) if i in json_at and isinstance(value, str) else value
        for i, value in enumerate(values)
    ]
    return model.from_db(DEFAULT_DB_ALIAS, names, decoded)
