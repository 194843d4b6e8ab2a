from __future__ import annotations

import django_filters

from commerce_project.api.filters import StrictFilterSet, UtcIsoDateTimeFilter
from orders.domain import ORDER_STATUSES
from orders.models import CustomerOrderStats, OrderView


class OrderFilter(StrictFilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=[(s.value, s.value) for s in ORDER_STATUSES],
        # No join, so no duplicates: SELECT DISTINCT over every column (jsonb included)
        # would sort all the matching rows before the first page could be taken.
        distinct=False,
        help_text="Upper case; repeat for several (?status=PAID&status=SHIPPED).",
    )
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    customer_id = django_filters.UUIDFilter(
        field_name="customer_id", help_text="Staff only in effect: customers see their own."
    )

    class Meta:
        model = OrderView
        fields = ["status", "created_after", "created_before", "customer_id"]


class CustomerOrderStatsFilter(StrictFilterSet):
    customer_id = django_filters.UUIDFilter(field_name="customer_id")
    currency = django_filters.CharFilter(field_name="currency")

    class Meta:
        model = CustomerOrderStats
        fields = ["customer_id", "currency"]
