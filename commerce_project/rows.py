"""Model instances from rows that a written-out statement returned, without the ORM's query
compilation (the hot reads and writes of orders, payments and sagas)."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, models
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

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
    return model_loaded(model, dict(zip(names, decoded, strict=True)))


def model_loaded(model: type[M], values: dict[str, Any], *, replays_from_db: bool = False) -> M:
    """What `model.from_db` builds from these field values (by attname; any other field
    deferred, so loaded on first use), without running `Model.__init__`, which sets every
    field one by one through its descriptor: a read model's row has a few dozen. `from_db`
    itself is used whenever the model has an `__init__` of its own, a `from_db` of its own
    (unless the caller does what it adds: `replays_from_db`), or some receiver of pre_init
    or post_init would expect to see the instance made (none does today)."""
    if (
        model.__init__ is not models.Model.__init__
        or (not replays_from_db and model.from_db.__func__ is not _MODEL_FROM_DB)  # type: ignore[attr-defined]
        or pre_init.receivers
        or post_init.receivers
    ):
        names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
        return model.from_db(DEFAULT_DB_ALIAS, names, [values[name] for name in names])
    instance = model.__new__(model)
    state = instance._state = ModelState()
    state.adding = False
    state.db = DEFAULT_DB_ALIAS
    instance.__dict__.update(values)
    return instance


_MODEL_FROM_DB = models.Model.from_db.__func__  # type: ignore[attr-defined]
