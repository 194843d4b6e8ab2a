from __future__ import annotations

import django_filters

from commerce_project.api.filters import StrictFilterSet, UtcIsoDateTimeFilter
from sagas.domain import SagaStatus
from sagas.models import SagaInstance


class SagaFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=[(s.value, s.value) for s in SagaStatus])
    type = django_filters.CharFilter(field_name="saga_type")
    correlation_id = django_filters.CharFilter()
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = SagaInstance
        fields = ["status", "type", "correlation_id", "created_after", "created_before"]
