"""The API's two paginations.

`PageNumberPagination` (every list by default): `{count, next, previous, results}` and
`?page=n`. Its count comes with the page: `COUNT(*) OVER ()` on the page's own query, one
round trip instead of a `COUNT(*)` and then the page. It still counts every matching row, so
it is for lists that stay small (the catalogue, a customer's sagas).

`KeysetPagination` for lists that grow without bound (orders): no count at all.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Count, QuerySet, Window
from django.db.models.query import ModelIterable
from rest_framework.pagination import CursorPagination
from rest_framework.pagination import PageNumberPagination as _DrfPageNumberPagination

_TOTAL = "_page_total"


class CountedWithThePagePaginator(Paginator):
    """Django's paginator, which fetches a page of a model QuerySet and the total number of
    rows in one query. Anything else, and any page that comes back empty (a number past
    the end, an empty list), goes Django's usual way: count, then decide."""

    def page(self, number: Any) -> Page:
        queryset = self.object_list
        if (
            not isinstance(queryset, QuerySet)
            or queryset._iterable_class is not ModelIterable
            or queryset.query.combinator
            or self.orphans
        ):
            return super().page(number)
        try:
            number = int(number)
        except (TypeError, ValueError):
            return super().page(number)  # Django's PageNotAnInteger
        if number < 1:
            return super().page(number)  # Django's EmptyPage
        bottom = (number - 1) * self.per_page
        rows = list(
            queryset.annotate(**{_TOTAL: Window(Count("*"))})[bottom : bottom + self.per_page]
        )
        if not rows:
            return super().page(number)
        self.__dict__["count"] = getattr(rows[0], _TOTAL)  # Paginator.count is cached
        return Page(rows, number, self)


class PageNumberPagination(_DrfPageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200
    django_paginator_class = CountedWithThePagePaginator


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
        "Opaque position in the list, from the `next` or `previous` link of a page."
    )
