"""Filters shared by the list endpoints of every app."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.request import Request
from rest_framework.views import APIView

# PostgreSQL keeps offsets within ±15:59:59; every real time zone lies well inside that.
MAX_UTC_OFFSET = dt.timedelta(hours=16)


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, converted to UTC: an offset at or beyond ±16:00 (which Python
    parses but PostgreSQL refuses) is invalid input, never a database error."""

    def to_python(self, value: Any) -> dt.datetime | None:
        parsed: dt.datetime | None = super().to_python(value)
        if parsed is None:
            return None
        offset = parsed.utcoffset()
        if offset is not None and abs(offset) >= MAX_UTC_OFFSET:
            raise forms.ValidationError(
                "The time-zone offset must lie between -15:59 and +15:59.", code="invalid"
            )
        return parsed.astimezone(dt.UTC)


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, which skips the filterset when the request has no query
    parameter but the pagination's: a filterset builds and validates a form (deep-copying
    every field) per request, about a sixth of an unfiltered catalogue page, only to
    filter nothing. None of our filters is required or has a default, so without
    parameters the filterset returns the queryset as it is."""

    def filter_queryset(
        self, request: Request, queryset: QuerySet[Any], view: APIView
    ) -> QuerySet[Any]:
        if request.query_params.keys() <= _NOT_FILTERS:
            return queryset
        return super().filter_queryset(request, queryset, view)


_NOT_FILTERS = frozenset({"page", "page_size", "cursor", "ordering", "search", "format"})
