"""The API's two paginations. Both check `page_size` instead of guessing: DRF's own would
silently fall back to the default for `page_size=abc` and clamp `page_size=10000`, so a
client would never learn that it did not get what it asked for.

`PageNumberPagination` (every list by default): `{count, next, previous, results}` and
`?page=n`. Its count comes with the page: `COUNT(*) OVER ()` on the page's own query, one
round trip instead of a `COUNT(*)` and then the page. It still counts every matching row, so
it is for lists that stay small (the catalogue, a customer's sagas).

`KeysetPagination` for lists that grow without bound (orders): no count at all.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from django.core.paginator import Page, Paginator
from django.db.models import Count, QuerySet, Window
from django.db.models.query import ModelIterable, ValuesIterable
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.pagination import PageNumberPagination as _DrfPageNumberPagination
from rest_framework.request import Request

from commerce_project.errors import InvalidInput

# Far beyond any real page count, and short enough to parse cheaply.
_MAX_PAGE = 10**9
_TOTAL = "_page_total"


def _whole_number(request: Request, name: str, *, maximum: int) -> int:
    raw = request.query_params[name]
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 10 else 0
    if not 1 <= number <= maximum:
        message = f"A whole number from 1 to {maximum}."
        raise InvalidInput(
            f"{name} must be a whole number from 1 to {maximum}.", errors={name: [message]}
        )
    return number


def _checked_page_size(pagination: Any, request: Request) -> int | None:
    if pagination.page_size_query_param not in request.query_params:
        return int(pagination.page_size)
    return _whole_number(
        request, pagination.page_size_query_param, maximum=pagination.max_page_size
    )


def _document_page_size(pagination: Any, parameter: dict[str, Any]) -> None:
    parameter["schema"].update(
        minimum=1, maximum=pagination.max_page_size, default=pagination.page_size
    )
    parameter["description"] = (
        f"Results per page, 1 to {pagination.max_page_size} (default {pagination.page_size}); "
        "anything else is a 400 invalid-input."
    )


def _page_number(number: Any) -> int | None:
    """`number` as a page number (1 or more); None for what Django's paginator refuses."""
    try:
        whole = int(number)
    except (TypeError, ValueError):
        return None
    return whole if whole >= 1 else None


class CountedWithThePagePaginator(Paginator):
    """Django's paginator, which fetches a page of a model QuerySet (or of its `values()`,
    whichever ValuesIterable fetches them), or of a PagedWithTotal, and the total number
    of rows in one query. Anything else, and any page that comes back empty (a number past
    the end, an empty list), goes Django's usual way: count, then decide."""

    def page(self, number: Any) -> Page:
        queryset = self.object_list
        if hasattr(queryset, "page_with_total"):  # a PagedWithTotal (cheaper than isinstance)
            return self._page_with_total(cast(PagedWithTotal, queryset), number)
        if (
            not isinstance(queryset, QuerySet)
            or not issubclass(queryset._iterable_class, (ModelIterable, ValuesIterable))
            or queryset.query.combinator
            or self.orphans
        ):
            return super().page(number)
        if (whole := _page_number(number)) is None:
            return super().page(number)  # Django's PageNotAnInteger or EmptyPage
        number = whole
        bottom = (number - 1) * self.per_page
        rows = list(
            queryset.annotate(**{_TOTAL: Window(Count("*"))})[bottom : bottom + self.per_page]
        )
        if not rows:
            return super().page(number)
        if issubclass(queryset._iterable_class, ValuesIterable):  # dicts: the total a key
            self.__dict__["count"] = rows[0][_TOTAL]
            for row in rows:
                del row[_TOTAL]
        else:
            self.__dict__["count"] = getattr(rows[0], _TOTAL)  # Paginator.count is cached
        return Page(rows, number, self)

    def _page_with_total(self, source: PagedWithTotal, number: Any) -> Page:
        if (whole := _page_number(number)) is None:
            return super().page(number)  # Django's PageNotAnInteger or EmptyPage
        number = whole
        rows, total = source.page_with_total((number - 1) * self.per_page, self.per_page)
        self.__dict__["count"] = total  # Paginator.count is cached
        if not rows:
            return super().page(number)  # past the end, or an empty list: Django decides
        return Page(rows, number, self)


class PagedWithTotal(Protocol):
    """A list that reads a page and its total in one go (written-out statements, not a
    QuerySet); slicing and count() are for what Django's Paginator does otherwise."""

    def page_with_total(self, offset: int, limit: int) -> tuple[list[Any], int]: ...

    def count(self) -> int: ...

    def __getitem__(self, index: slice) -> list[Any]: ...


class PageNumberPagination(_DrfPageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200
    django_paginator_class = CountedWithThePagePaginator

    def get_page_size(self, request: Request) -> int | None:
        return _checked_page_size(self, request)

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        # A page that is no number is invalid input; one past the last page is not found.
        if self.page_query_param in request.query_params:
            _whole_number(request, self.page_query_param, maximum=_MAX_PAGE)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"].update(minimum=1, maximum=_MAX_PAGE)
                parameter["description"] = (
                    "The page, from 1 (default 1); past the last page is a 404 not-found, "
                    "anything else a 400 invalid-input."
                )
            elif parameter["name"] == self.page_size_query_param:
                _document_page_size(self, parameter)
        return parameters


class KeysetPagination(CursorPagination):
    """Cursor (keyset) pagination for lists that grow without bound: a page is one indexed
    range query (`WHERE created_at < <the last one seen> ORDER BY ... LIMIT n`), with no
    `COUNT(*)` and no OFFSET, so it costs the same on page 1 and page 5,000 and over 100,000
    rows or 10 million. The answer is `{next, previous, results}`: follow the links (their
    `cursor` parameter is opaque); there is no total and no jumping to page n. The order is
    the view's `ordering` (or `?ordering=`), whose first field positions the cursor."""

    page_size_query_param = "page_size"
    max_page_size = 200
    cursor_query_description = (
        "Opaque position in the list, from the `next` or `previous` link of a page; "
        "a cursor no page handed out is a 400 invalid-input."
    )

    def get_page_size(self, request: Request) -> int | None:
        return _checked_page_size(self, request)

    def decode_cursor(self, request: Request) -> Any:
        try:
            return super().decode_cursor(request)
        except NotFound:  # DRF's answer to a cursor it cannot read: the client's mistake
            message = "Not a cursor from this list's next or previous link."
            raise InvalidInput(message, errors={self.cursor_query_param: [message]}) from None

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                _document_page_size(self, parameter)
        return parameters
