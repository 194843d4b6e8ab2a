"""RFC 9457 problem details for every error under /api/.

`exception_handler` renders errors raised inside DRF views; `ProblemResponseMiddleware`
catches what never reached DRF (unknown URLs, 500s from Django's handler) so an API client
never gets an HTML page.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from commerce_project.context import current_request_id
from commerce_project.errors import ApplicationError

from .errors import DatabaseUnavailable, http_headers, http_status
from .outages import database_unavailable
from .renderers import JSONRenderer

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/problem+json"

# DRF exception class -> stable problem type.
_DRF_TYPES: list[tuple[type[Exception], str]] = [
    (drf.ValidationError, "invalid-input"),
    (drf.ParseError, "invalid-input"),
    (drf.NotAuthenticated, "not-authenticated"),
    (drf.AuthenticationFailed, "not-authenticated"),
    (drf.PermissionDenied, "forbidden"),
    (drf.NotFound, "not-found"),
    (drf.MethodNotAllowed, "method-not-allowed"),
    (drf.NotAcceptable, "not-acceptable"),
    (drf.UnsupportedMediaType, "unsupported-media-type"),
    (drf.Throttled, "throttled"),
]

_STATUS_TYPES = {
    400: "invalid-input",
    401: "not-authenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "concurrency-conflict",
    412: "concurrency-conflict",
    415: "unsupported-media-type",
    429: "throttled",
    500: "server-error",
    502: "service-unavailable",
    503: "service-unavailable",
    504: "service-unavailable",
}


def problem_body(
    *, status: int, type_: str, title: str, detail: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type_,
        "title": title,
        "status": status,
        "detail": detail or title,
        "request_id": current_request_id.get(),
    }
    body.update(extra)
    return body


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into {"field.sub[0].name": [messages]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors" and not prefix:
                name = "non_field_errors"
            out.update(flatten_errors(value, name))
    elif (
        isinstance(detail, list)
        and detail
        and all(not isinstance(d, Mapping | list) for d in detail)
    ):
        out[prefix or "non_field_errors"] = [str(d) for d in detail]
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if value:
                out.update(flatten_errors(value, f"{prefix}[{index}]"))
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


def _drf_type(exc: Exception) -> str:
    for cls, type_ in _DRF_TYPES:
        if isinstance(exc, cls):
            return type_
    status = getattr(exc, "status_code", 500)
    return _STATUS_TYPES.get(status, "error")


def _render_as_json(context: dict[str, Any]) -> None:
    """Problems are JSON whatever the client negotiated (the browsable API's HTML, the
    schema view's YAML): DRF renders with the request's renderer, so replace it."""
    request = context.get("request")
    if request is not None:
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = CONTENT_TYPE


def _outage_problem(exc: BaseException) -> ApplicationError | None:
    """The problem to answer for a backing service being down, or None for anything else."""
    if database_unavailable(exc):
        logger.warning("database unavailable: %s", exc)
        return DatabaseUnavailable()
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    _render_as_json(context)
    exc = _outage_problem(exc) or exc
    if isinstance(exc, ApplicationError):
        status = http_status(exc)
        body = problem_body(
            status=status, type_=exc.type, title=exc.title, detail=exc.detail, **exc.extra
        )
        return Response(body, status=status, headers=http_headers(exc), content_type=CONTENT_TYPE)

    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # Django logs it and answers 500; the middleware makes that a problem.

    assert isinstance(exc, drf.APIException)
    status = response.status_code
    title = HTTPStatus(status).phrase
    type_ = _drf_type(exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, drf.ValidationError):
        extra["errors"] = flatten_errors(exc.detail)
        detail = "The request has invalid fields: " + ", ".join(extra["errors"]) + "."
    else:
        detail = str(exc.detail)
    wait = getattr(exc, "wait", None)
    if isinstance(exc, drf.Throttled) and wait is not None:
        extra["retry_after"] = int(wait)
    response.data = problem_body(status=status, type_=type_, title=title, detail=detail, **extra)
    response.content_type = CONTENT_TYPE
    if status == 401 and "WWW-Authenticate" not in response:
        response["WWW-Authenticate"] = 'Token realm="api"'
    return response


def _is_api_path(path: str) -> bool:
    return path.startswith("/api/")


class ProblemResponseMiddleware:
    """Rewrites non-JSON error responses on /api/ paths (404 from the URL resolver, 405,
    Django's 500 page) into problem+json, keeping the status code; and answers an outage
    raised by a view outside DRF as a 503 problem, even in DEBUG (where Django would
    render its technical 500 page instead of calling handler500)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return _outage_response(request, exception)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and _is_api_path(request.path)
            and "json" not in response.get("Content-Type", "")
        ):
            detail = f"No resource at {request.path}." if response.status_code == 404 else None
            return problem_response(
                response.status_code, detail=detail, headers=_kept_headers(response)
            )
        return response


def _kept_headers(response: HttpResponse) -> dict[str, str]:
    return {k: v for k, v in response.items() if k in ("Allow", "Retry-After", "WWW-Authenticate")}


def problem_response(
    status: int, detail: str | None = None, headers: Mapping[str, str] | None = None, **extra: Any
) -> JsonResponse:
    title = HTTPStatus(status).phrase
    type_ = _STATUS_TYPES.get(status, "error")
    if status == 500:
        detail = detail or "An unexpected error occurred; it has been logged with the request id."
    body = problem_body(status=status, type_=type_, title=title, detail=detail, **extra)
    response = JsonResponse(body, status=status, content_type=CONTENT_TYPE)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api_path(request.path):
        return problem_response(404, detail=f"No resource at {request.path}.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())


def _outage_response(request: HttpRequest, exc: BaseException) -> HttpResponse | None:
    if not _is_api_path(request.path):
        return None
    outage = _outage_problem(exc)
    if outage is None:
        return None
    return problem_response(http_status(outage), detail=outage.detail, headers=http_headers(outage))


def handler500(request: HttpRequest) -> HttpResponse:
    """Django calls this inside its `except` block, so the error is still at hand: an
    outage outside DRF views (a middleware's query) is a 503 too."""
    outage = _outage_response(request, sys.exc_info()[1] or Exception())
    if outage is not None:
        return outage
    if _is_api_path(request.path):
        return problem_response(500)
    from django.views.defaults import server_error

    return server_error(request)
