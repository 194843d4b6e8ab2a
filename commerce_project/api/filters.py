"""Filters shared by the list endpoints of every app."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

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
