"""Page-number lists get their count with the page, in one query, and answer exactly as
Django's paginator would: count, links, the last page, a page past the end."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from rest_framework.test import APIClient

from commerce_project.api.pagination import CountedWithThePagePaginator
from inventory.models import Product
from tests.commerce_project.test_problems import assert_problem
from tests.inventory.factories import ProductFactory
from tests.sql import statements_sent

pytestmark = pytest.mark.django_db

URL = "/api/v1/products/"


@pytest.fixture
def five_products() -> list[Product]:
    return [ProductFactory(price=Decimal(n)) for n in range(1, 6)]


def test_a_page_and_its_count_are_one_query(
    api_client: APIClient, five_products: list[Product]
) -> None:
    with statements_sent() as sent:
        body = api_client.get(URL, {"page_size": 2, "page": 2}).json()
    on_products = [sql for sql in sent if '"products"' in sql]
    assert len(on_products) == 1, on_products
    assert "OVER ()" in on_products[0]
    assert body["count"] == 5
    assert len(body["results"]) == 2
    assert "page=3" in body["next"]
    assert "page=" not in body["previous"]  # page 1 is the list without ?page=


def test_the_last_page_and_past_the_end(
    api_client: APIClient, five_products: list[Product]
) -> None:
    last = api_client.get(URL, {"page_size": 2, "page": 3}).json()
    assert (last["count"], len(last["results"]), last["next"]) == (5, 1, None)
    assert_problem(api_client.get(URL, {"page_size": 2, "page": 4}), 404, "not-found")
    assert_problem(api_client.get(URL, {"page": "two"}), 400, "invalid-input")


def test_an_empty_list_is_an_empty_first_page(api_client: APIClient) -> None:
    body = api_client.get(URL).json()
    assert (body["count"], body["results"], body["next"]) == (0, [], None)


@pytest.mark.parametrize("number", [1, 2, 3, "3", 4, 0, -1, "x", None])
def test_pages_are_djangos(five_products: list[Product], number: Any) -> None:
    queryset = Product.objects.order_by("price")
    ours, django = CountedWithThePagePaginator(queryset, 2), Paginator(queryset, 2)
    try:
        expected = django.page(number)
    except (EmptyPage, PageNotAnInteger) as exc:
        with pytest.raises(type(exc)):
            ours.page(number)
        return
    page = ours.page(number)
    assert list(page) == list(expected)
    assert (page.number, ours.count, ours.num_pages) == (expected.number, django.count, 3)
    assert (page.has_next(), page.has_previous()) == (expected.has_next(), expected.has_previous())
