"""List rows fetched by commerce_project.api.list_rows are the rows Django's values() gives,
jsonb decoded by orjson with the standard library's json for what orjson refuses."""

from __future__ import annotations

import json

import pytest

from accounts.models import User
from commerce_project.api.list_rows import ListRowsIterable, json_loads
from inventory.models import Product
from orders.api.serializers import LIST_COLUMNS
from orders.models import OrderView
from tests.orders.conftest import make_order

pytestmark = pytest.mark.django_db


def test_the_rows_are_djangos_values(customer: User, widget: Product) -> None:
    # given
    make_order(customer, lines=[(widget, 2)], to="CONFIRMED")
    make_order(customer, lines=[(widget, 1)])
    django = OrderView.objects.order_by("created_at").values(*LIST_COLUMNS)
    ours = django.all()
    ours._iterable_class = ListRowsIterable
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
