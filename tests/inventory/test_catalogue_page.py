"""The public catalogue page without parameters is read by written-out statements
(inventory.selectors.ActiveCatalogue): it must answer exactly what the ORM's query answers,
page by page, `available` from the stock rows included, and cost one statement a page and
no cache round trip."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from inventory import selectors, services
from inventory.api.serializers import PUBLIC_COLUMNS
from inventory.models import Product, StockItem
from tests.commerce_project.test_problems import assert_problem
from tests.inventory.factories import ProductFactory
from tests.redis_sent import redis_commands_sent
from tests.sql import statements_sent

pytestmark = pytest.mark.django_db

URL = "/api/v1/products/"


@pytest.fixture
def catalogue() -> list[Product]:
    # Equal names (the id decides), an inactive one, prices with cents.
    names = ["Pen", "Mug", "Mug", "Cup", "Bag", "Mug"]
    products = [
        ProductFactory(name=name, price=Decimal(f"{n}.05"), stock=n)
        for n, name in enumerate(names, 1)
    ]
    ProductFactory(name="Aardvark", active=False)
    return products


def test_its_rows_are_the_orms(catalogue: list[Product]) -> None:
    # given two units of one product reserved, and one product without a stock row
    services.stock_reserve(order_id=uuid.uuid4(), lines=[(catalogue[2].id, 2)])
    StockItem.objects.filter(pk=catalogue[3].pk).delete()
    ordered = selectors.product_list().order_by("name", "id")
    orm = list(selectors.public_catalogue_rows(ordered, PUBLIC_COLUMNS))
    source = selectors.ActiveCatalogue(PUBLIC_COLUMNS)
    # when
    pages = [source.page_with_total(offset, 4) for offset in (0, 4, 8)]
    # then
    assert [rows for rows, _ in pages] == [orm[0:4], orm[4:], []]
    assert [total for _, total in pages] == [6, 6, 6]
    assert source.count() == len(source) == 6
    assert source[1:3] == orm[1:3]
    available = {row["id"]: row["available"] for row in orm}
    assert available[catalogue[2].id] == 3 - 2  # its stock is 3
    assert available[catalogue[3].id] == 0


def test_every_page_answers_as_the_orm_path_does(
    api_client: APIClient, catalogue: list[Product]
) -> None:
    for params in ({}, {"page_size": 4}, {"page_size": 4, "page": 2}, {"page_size": 200}):
        written_out = api_client.get(URL, params).json()
        # an empty search filters nothing but takes the ORM's path (and stays in the links)
        orm = api_client.get(URL, {**params, "search": ""}).json()
        for link in ("next", "previous"):
            orm[link] = orm[link] and orm[link].replace("&search=", "").replace("?search=", "?")
        assert written_out == orm, params


def test_a_page_is_one_statement_and_reads_no_stock_cache(
    api_client: APIClient, catalogue: list[Product], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_cache(product_ids: Any) -> Any:
        raise AssertionError("the list read the stock cache")

    monkeypatch.setattr(selectors, "stock_cache_read", no_cache)
    for params in ({"page_size": 4, "page": 2}, {"page_size": 4, "page": 2, "search": ""}):
        with statements_sent() as sent:
            body = api_client.get(URL, params).json()
        assert len([sql for sql in sent if '"products"' in sql]) == 1, sent
        assert (body["count"], len(body["results"])) == (6, 2)


def test_past_the_end_and_an_empty_catalogue(api_client: APIClient) -> None:
    assert api_client.get(URL).json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }
    assert_problem(api_client.get(URL, {"page": 2}), 404, "not-found")
    ProductFactory()
    assert_problem(api_client.get(URL, {"page": 2}), 404, "not-found")
    assert api_client.get(URL, {"page": 1}).json()["count"] == 1


def test_a_page_is_one_redis_round_trip_the_anonymous_throttle(
    api_client: APIClient, catalogue: list[Product]
) -> None:
    for params in ({}, {"search": ""}):
        # when
        with redis_commands_sent() as sent:
            response = api_client.get(URL, params)
        # then: the anonymous throttle's one round trip, and no read of the stock cache
        assert response.status_code == 200
        assert len(sent) == 1, sent
        assert b"inventory:" not in repr(sent).encode(), sent
