from rest_framework.pagination import CursorPagination
from rest_framework.pagination import PageNumberPagination as _DrfPageNumberPagination


class PageNumberPagination(_DrfPageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


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
