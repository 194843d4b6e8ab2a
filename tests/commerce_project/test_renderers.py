"""The orjson renderer writes exactly DRF's bytes, for the values our API renders and for
the ones orjson would write differently."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from django.utils.translation import gettext_lazy
from rest_framework import renderers as drf
from rest_framework.test import APIClient
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from accounts.models import User
from commerce_project.api.renderers import JSONRenderer, ProblemJSONRenderer
from tests.inventory.factories import ProductFactory
from tests.orders.conftest import make_order, order_url


@dataclasses.dataclass
class Point:
    x: int


VALUES: list[Any] = [
    {"amount": Decimal("12.50"), "tiny": Decimal("0.1")},
    {"id": uuid.UUID("12345678-1234-5678-1234-567812345678")},
    {"utc": datetime(2026, 12, 1, 9, 30, 5, 123456, tzinfo=UTC)},
    {"utc_whole": datetime(2026, 12, 1, 9, 30, tzinfo=UTC)},
    {"berlin": datetime(2026, 12, 1, 9, 30, 5, tzinfo=timezone(timedelta(hours=1)))},
    {"naive": datetime(2026, 12, 1, 9, 30, 5, 7)},  # noqa: DTZ001  (DRF renders it as is)
    {"day": date(2026, 12, 1), "at": time(9, 30, 5, 250000), "after": timedelta(minutes=90)},
    {"lazy": gettext_lazy("Not found."), "tags": ("a", "b"), "set": {1}},
    {"text": 'Grüße, 東京, emoji 🛒, line\u2028and\u2029paragraph, quote " and \\'},
    {"big": 2**70, "negative": -(2**65)},
    {1: "non-string key"},
    {"floats": [1.5, 1e16, 0.1, -0.0], "none": None, "bool": True},
    {"point": Point(3)},
    ReturnDict({"nested": ReturnList([{"a": 1}], serializer=None)}, serializer=None),
    [],
    "a bare string",
]


@pytest.mark.parametrize("value", VALUES, ids=[str(n) for n in range(len(VALUES))])
def test_the_bytes_are_drfs(value: Any) -> None:
    try:
        expected = drf.JSONRenderer().render(value)
    except TypeError:
        with pytest.raises(TypeError):
            JSONRenderer().render(value)
        return
    assert JSONRenderer().render(value) == expected
    assert ProblemJSONRenderer().render(value) == expected


def test_indented_output_is_drfs() -> None:
    value = {"when": datetime(2026, 12, 1, tzinfo=UTC), "n": [1, 2]}
    expected = drf.JSONRenderer().render(value, "application/json; indent=4")
    assert JSONRenderer().render(value, "application/json; indent=4") == expected
    assert b"\n    " in expected
    context = {"indent": 2}
    for media_type in (None, "application/json", "application/json; charset=utf-8"):
        assert JSONRenderer().render(value, media_type, context) == drf.JSONRenderer().render(
            value, media_type, context
        )
    # a media type's indent wins over the context's; a malformed one is ignored, as in DRF
    for media_type in ("application/json; indent=3", "application/json; indent=x"):
        assert JSONRenderer().render(value, media_type, context) == drf.JSONRenderer().render(
            value, media_type, context
        )


def test_nothing_renders_as_no_bytes() -> None:
    assert JSONRenderer().render(None) == b""


@pytest.mark.django_db
def test_an_order_is_rendered_as_drf_would(customer_client: APIClient, customer: User) -> None:
    widget = ProductFactory(price=Decimal("12.50"))
    order = make_order(customer, lines=[(widget, 2)], to="CONFIRMED")
    response = customer_client.get(order_url(order.id))
    assert response.status_code == 200
    assert response.content == drf.JSONRenderer().render(response.data)
    assert b'"total_amount":"25.00"' in response.content


@pytest.mark.django_db
def test_the_browsable_api_still_renders(customer: User) -> None:
    widget = ProductFactory()
    client = APIClient()
    client.force_login(customer)
    order = make_order(customer, lines=[(widget, 1)])
    response = client.get(order_url(order.id), HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert str(order.id) in response.content.decode()
