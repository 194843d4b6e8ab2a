"""Page-number pagination for every list. `page_size` is checked, not guessed: DRF's own
would silently fall back to the default for `page_size=abc` and clamp `page_size=10000`,
so a client would never learn that it did not get what it asked for."""

from __future__ import annotations

from typing import Any

from rest_framework.pagination import PageNumberPagination as _DrfPageNumberPagination
from rest_framework.request import Request

from commerce_project.errors import InvalidInput

# Far beyond any real page count, and short enough to parse cheaply.
_MAX_PAGE = 10**9


def _whole_number(request: Request, name: str, *, maximum: int) -> int:
    raw = request.query_params[name]
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 10 else 0
    if not 1 <= number <= maximum:
        message = f"A whole number from 1 to {maximum}."
        raise InvalidInput(
            f"{name} must be a whole number from 1 to {maximum}.", errors={name: [message]}
        )
    return number


class PageNumberPagination(_DrfPageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int | None:
        if self.page_size_query_param not in request.query_params:
            return self.page_size
        return _whole_number(request, self.page_size_query_param, maximum=self.max_page_size)

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        # A page that is no number is invalid input; one past the last page is not found.
        if self.page_query_param in request.query_params:
            _whole_number(request, self.page_query_param, maximum=_MAX_PAGE)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            schema = parameter["schema"]
            if parameter["name"] == self.page_query_param:
                schema.update(minimum=1, maximum=_MAX_PAGE)
                parameter["description"] = (
                    "The page, from 1 (default 1); past the last page is a 404 not-found, "
                    "anything else a 400 invalid-input."
                )
            elif parameter["name"] == self.page_size_query_param:
                schema.update(minimum=1, maximum=self.max_page_size, default=self.page_size)
                parameter["description"] = (
                    f"Results per page, 1 to {self.max_page_size} (default {self.page_size}); "
                    "anything else is a 400 invalid-input."
                )
        return parameters
