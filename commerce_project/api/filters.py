"""Filters shared by the list endpoints of every app."""

from __future__ import annotations

import copy
import datetime as dt
import re
from typing import Any, ClassVar

import django_filters
import django_filters.rest_framework
from django import forms
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField
from django_filters.filters import QuerySetRequestMixin
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter
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


class _CopiedShallow(dict[str, Any]):
    """A class's filters or form fields, which each instance copies one by one instead of
    deeply.

    django-filter deep-copies a filterset's filters, and Django a form's fields (widgets,
    choices, validators, error messages), for every instance, so that an instance may
    change its own; ours set attributes on them (a filter's `model` and `parent`, a lazily
    built `field`) but never change the values those attributes hold, and the deep copies
    were about half of filtering an order list. A shallow copy of each keeps an attribute
    set on one instance's copy to that instance; the dicts, lists and widgets inside,
    which filtering and validation only read, are shared."""

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {name: self.copy_one(value) for name, value in self.items()}

    @staticmethod
    def copy_one(value: Any) -> Any:
        return copy.copy(value)


class _FiltersCopiedShallow(_CopiedShallow):
    @staticmethod
    def copy_one(value: Any) -> Any:
        copied = copy.copy(value)
        if copied.method is not None:
            # A `method=` filter delegates to a helper bound to the filter it was made for:
            # setting the method again binds a new one to the copy (and so to its parent).
            copied.method = copied.method
        return copied


class StrictFilterSet(django_filters.rest_framework.FilterSet):
    """A FilterSet that refuses a typed filter given without a usable value
    (`?customer_id=`, `?in_stock=maybe`) instead of quietly not filtering: the client
    asked for something and must learn it did not get it. Text filters (CharFilter) take
    any text, the empty string included."""

    _form_class: ClassVar[type[forms.Form]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        if not isinstance(cls.__dict__.get("base_filters"), _FiltersCopiedShallow):
            base = _FiltersCopiedShallow(cls.base_filters)
            model = cls._meta.model
            for filter_ in base.values():
                if model is not None and not isinstance(filter_, QuerySetRequestMixin):
                    # Its form field built once (as each copy would, for the same model),
                    # shared by the copies: a filter builds it lazily, on every request
                    # otherwise (a multiple-choice filter asks it for each value).
                    filter_.model = model
                    filter_.field  # noqa: B018
            cls.base_filters = base
        super().__init__(*args, **kwargs)

    def get_form_class(self) -> type[forms.Form]:
        # django-filter builds a new Form class from the filters' fields on every request.
        # Ours take no per-request arguments (no querysets or callables), so the class
        # built first serves every later request of the same FilterSet (each form still
        # deep-copies the fields for itself).
        cls = type(self)
        form_class: type[forms.Form] | None = cls.__dict__.get("_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            form_class.base_fields = _CopiedShallow(form_class.base_fields)
            cls._form_class = form_class
        return form_class

    def is_valid(self) -> bool:
        valid = super().is_valid()
        cleaned = getattr(self.form, "cleaned_data", {})
        for name, filter_ in self.filters.items():
            if isinstance(filter_, django_filters.CharFilter) or name not in self.data:
                continue
            if isinstance(filter_, django_filters.BooleanFilter):
                # the widget also reads 1/0/True/2/3 as booleans; the schema says true/false
                if self.data.get(name) not in ("true", "false"):
                    self.form.add_error(name, "Give true or false, or leave it out.")
                    valid = False
            elif name in cleaned and cleaned[name] in (None, "", [], ()):
                self.form.add_error(name, "Give a value of the documented type, or leave it out.")
                valid = False
        return valid and not self.form.errors


class StrictOrderingFilter(OrderingFilter):
    """DRF's OrderingFilter, but a term that is not `field` or `-field` of the view's
    ordering fields is a 400 (DRF drops it silently), and the schema says which they are."""

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> Any:
        given = request.query_params.get(self.ordering_param)
        if given is None:
            return self.get_default_ordering(view)
        names = [name for name, _ in self.get_valid_fields(queryset, view, {"request": request})]
        if not _ordering_pattern(names).match(given):
            allowed = ", ".join(sorted(names))
            raise ValidationError(
                {self.ordering_param: [f"Comma-separated fields (- for descending): {allowed}."]}
            )
        return given.split(",")

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        names = sorted(getattr(view, "ordering_fields", None) or [])
        if names and names != ["__all__"]:
            for parameter in parameters:
                parameter["schema"]["pattern"] = _ordering_pattern(names).pattern
                parameter["description"] = (
                    "Comma-separated fields, `-` for descending: "
                    + ", ".join(f"`{name}`" for name in names)
                    + "; anything else is a 400 invalid-input."
                )
        return parameters


def _ordering_pattern(names: list[str]) -> re.Pattern[str]:
    term = "-?(?:" + "|".join(re.escape(name) for name in sorted(names)) + ")"
    return re.compile(f"^{term}(?:,{term})*$")


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
