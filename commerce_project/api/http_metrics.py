"""Request counts and latency by route template, method and status (Prometheus).

The route is the URL pattern that matched (`api/v1/orders/<uuid:pk>/`), never the raw path,
so an order id cannot become a label value; a request no pattern matched is `<unmatched>`.
Methods outside the standard set are counted as `OTHER` for the same reason. It is the
outermost middleware, so the latency covers every other one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from commerce_project.metrics import http_request_duration, http_requests

UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


# (route, method, status) -> the two label children: `labels()` validates and looks the
# labels up under a lock on every call, the same handful of times per request for ever.
# Bounded: routes are URL patterns, methods a fixed set, statuses a few dozen.
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _children_of(route: str, method: str, status: int) -> tuple[Any, Any]:
    key = (route, method, status)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (
            http_requests.labels(route, method, str(status)),
            http_request_duration.labels(route, method),
        )
    return children


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None)
    return str(route) if route else UNMATCHED


class HttpMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        route = route_of(request)
        method = request.method if request.method in _METHODS else "OTHER"
        count, duration = _children_of(route, method, response.status_code)
        count.inc()
        duration.observe(elapsed)
        return response
