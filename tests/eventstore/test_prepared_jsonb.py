"""Prepared statements decode jsonb with orjson (eventstore.jsonb): rows of a `values()`
QuerySet read through PreparedValuesIterable are the rows Django's values() gives, and jsonb
decodes as the standard library's json decodes it, also where orjson alone would not."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from psycopg.pq import Format

from accounts.models import User
from eventstore.jsonb import JsonbLoader, json_loads
from eventstore.prepared import PreparedValuesIterable, fetch_prepared
from orders.api.serializers import LIST_COLUMNS
from orders.models import OrderView
from tests.orders.conftest import make_order
from tests.orders.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_the_rows_are_djangos_values(customer: User) -> None:
    widget = ProductFactory()
    # given
    make_order(customer, lines=[(widget, 2)], to="CONFIRMED")
    make_order(customer, lines=[(widget, 1)])
    django = OrderView.objects.order_by("created_at").values(*LIST_COLUMNS)
    ours = django.all()
    ours._iterable_class = PreparedValuesIterable
    # then
    assert list(ours) == list(django)
    assert list(ours.filter(status="NONE")) == []


@pytest.mark.parametrize(
    "text",
    [
        '{"a": [1, 2.5, "x", null, true]}',
        "[]",
        '{"big": 123456789012345678901234567890}',
        '"\\ud800"',
    ],
)
def test_json_is_decoded_as_the_standard_library_does(text: str) -> None:
    assert json_loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    ['{"big": 123456789012345678901234567890, "x": [1.5]}', '{"e": "\\u00e9"}', "[]"],
)
def test_a_prepared_read_decodes_jsonb_as_json_does(text: str) -> None:
    assert fetch_prepared("SELECT %s::jsonb", [text]) == [(json.loads(text),)]


def test_a_prepared_read_leaves_binary_jsonb_to_the_orjson_loader() -> None:
    fetch_prepared("SELECT 1", [])
    raw = connection.connection
    jsonb = raw.adapters.types["jsonb"].oid
    assert raw.adapters.get_loader(jsonb, Format.BINARY) is JsonbLoader
