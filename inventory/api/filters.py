from __future__ import annotations

import django_filters
from django.db.models import F, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from commerce_project.api.filters import StrictFilterSet
from inventory.models import Product


class ProductFilter(StrictFilterSet):
    in_stock = django_filters.BooleanFilter(
        method="filter_in_stock", label="Only products with units available (database)."
    )
    active = django_filters.BooleanFilter(label="Staff: filter on the active flag.")

    class Meta:
        model = Product
        fields = ("in_stock", "active", "currency")

    @extend_schema_field(OpenApiTypes.BOOL)
    def filter_in_stock(
        self, queryset: QuerySet[Product], name: str, value: bool | None
    ) -> QuerySet[Product]:
        if value is None:
            return queryset
        available = {"stock__on_hand__gt": F("stock__reserved")}
        return queryset.filter(**available) if value else queryset.exclude(**available)
