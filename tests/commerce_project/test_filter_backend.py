"""The filter backend builds a filterset only when the request has a parameter that could
filter; the answers are the same either way."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from inventory.api.filters import ProductFilter
from tests.inventory.factories import ProductFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/products/"


@pytest.fixture
def filtersets_built(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The data of every ProductFilter built (the real class runs)."""
    built: list[dict[str, Any]] = []
    original = ProductFilter.__init__

    def spy(self: ProductFilter, data: Any = None, *args: Any, **kwargs: Any) -> None:
        built.append(dict(data or {}))
        original(self, data, *args, **kwargs)

    monkeypatch.setattr(ProductFilter, "__init__", spy)
    return built


@pytest.mark.parametrize(
    "query", [{}, {"page_size": "1"}, {"ordering": "-price", "page": "2", "page_size": "1"}]
)
def test_no_filterset_without_a_filter_parameter(
    api_client: APIClient, filtersets_built: list[dict[str, Any]], query: dict[str, str]
) -> None:
    ProductFactory.create_batch(2)
    response = api_client.get(URL, query)
    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert filtersets_built == []


def test_a_filter_parameter_still_filters(
    api_client: APIClient, filtersets_built: list[dict[str, Any]]
) -> None:
    ProductFactory(currency="EUR")
    usd = ProductFactory(currency="USD")
    body = api_client.get(URL, {"currency": "USD", "page_size": "5"}).json()
    assert [p["id"] for p in body["results"]] == [str(usd.id)]
    assert len(filtersets_built) == 1
