"""Filtersets and their forms copy the class's filters and fields one by one (not deeply):
each instance still has filters and fields of its own, bound to it, and a `method=` filter
calls its own filterset's method."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import QuerySet
from django.http import QueryDict

from inventory.api.filters import ProductFilter
from inventory.models import Product
from tests.inventory.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_each_filterset_has_its_own_filters_and_fields() -> None:
    # given
    first = ProductFilter(QueryDict("in_stock=true"), queryset=Product.objects.all())
    second = ProductFilter(QueryDict("in_stock=false"), queryset=Product.objects.all())
    # then
    for name in ProductFilter.base_filters:
        assert first.filters[name] is not second.filters[name]
        assert first.filters[name] is not ProductFilter.base_filters[name]
        assert first.filters[name].parent is first
        assert second.filters[name].parent is second
        assert first.form.fields[name] is not second.form.fields[name]
    first.form.fields["active"].required = True
    assert not second.form.fields["active"].required
    assert not type(second.form).base_fields["active"].required


def test_a_method_filter_calls_its_own_filtersets_method(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    ProductFactory(name="Plenty", stock=5)
    ProductFactory(name="None left")
    called: list[ProductFilter] = []
    original = ProductFilter.filter_in_stock

    def spy(self: ProductFilter, queryset: QuerySet[Product], name: str, value: Any) -> Any:
        called.append(self)
        return original(self, queryset, name, value)

    monkeypatch.setattr(ProductFilter, "filter_in_stock", spy)
    filtersets = [
        ProductFilter(QueryDict(f"in_stock={value}"), queryset=Product.objects.all())
        for value in ("true", "false")
    ]
    # when
    names = [[p.name for p in filterset.qs] for filterset in filtersets]
    # then
    assert names == [["Plenty"], ["None left"]]
    assert called == filtersets
