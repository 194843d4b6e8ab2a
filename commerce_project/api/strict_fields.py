"""JSON bodies are taken at their word: a field the schema calls a string takes a JSON
string, an integer field a JSON integer, a boolean field true or false.

DRF's fields coerce on input (`123` becomes "123", `"5"` and `5.0` become 5, `"yes"` and
`1` become True, an integer becomes a UUID), so the API accepted bodies its own schema calls
invalid, and a client bug such as sending a number for a password went unnoticed. Query
strings carry only text, so fields reading a QueryDict keep converting as before.

`install()` (called from the API app's `ready`) wraps `to_internal_value` of the base field
classes once, so every serializer, including ones written later, gets it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.http import QueryDict
from rest_framework import fields

# field class -> the Python types a JSON body may give it (after json.loads)
_JSON_TYPES: dict[type[fields.Field[Any, Any, Any, Any]], tuple[type, ...]] = {
    fields.CharField: (str,),
    fields.UUIDField: (str, uuid.UUID),
    fields.IntegerField: (int,),
    fields.BooleanField: (bool,),
    fields.DecimalField: (str, int, float),
}

_INSTALLED = "_strict_json_types"


def _reads_query_string(field: fields.Field[Any, Any, Any, Any]) -> bool:
    return isinstance(getattr(field.root, "initial_data", None), QueryDict)


def _strict(
    original: Callable[[Any, Any], Any], allowed: tuple[type, ...]
) -> Callable[[Any, Any], Any]:
    def to_internal_value(self: fields.Field[Any, Any, Any, Any], data: Any) -> Any:
        wrong_type = not isinstance(data, allowed) or (
            isinstance(data, bool) and bool not in allowed
        )
        if wrong_type and not _reads_query_string(self):
            self.fail("invalid")
        return original(self, data)

    setattr(to_internal_value, _INSTALLED, True)
    return to_internal_value


def install() -> None:
    for field_class, allowed in _JSON_TYPES.items():
        current = field_class.__dict__["to_internal_value"]
        if not getattr(current, _INSTALLED, False):
            setattr(field_class, "to_internal_value", _strict(current, allowed))  # noqa: B010
