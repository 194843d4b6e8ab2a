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
from typing import Any, ClassVar

import orjson

from eventstore.prepared import PreparedValuesIterable

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


class ListRowsIterable(PreparedValuesIterable):
    """`qs._iterable_class = ListRowsIterable` after `values()`; slicing and filtering keep
    it. The statement does not show in `connection.queries` or `assertNumQueries`."""

    jsonb_loads: ClassVar[Any] = staticmethod(json_loads)
