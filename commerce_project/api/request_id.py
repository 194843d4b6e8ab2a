"""X-Request-ID: accepted from the client (when sane) or generated, echoed back, and put on
every log line of the request — and of the Celery tasks it enqueues (see celery.py) — beside
the trace id of the request's OpenTelemetry trace ("-" when tracing is off)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from commerce_project.context import current_request_id, current_trace_id, new_request_id

HEADER = "X-Request-ID"
# Read from the WSGI environ: `request.headers` copies every header into a new mapping.
_META_KEY = "HTTP_X_REQUEST_ID"
# Left in the WSGI environ (request.META is that dict) for gunicorn's access log, which is
# written after the response, outside the request's context (commerce_project.gunicorn_conf).
ENVIRON_REQUEST_ID = "commerce.request_id"
ENVIRON_TRACE_ID = "commerce.trace_id"
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def accept_or_generate(value: str | None) -> str:
    if value and _ACCEPTABLE.match(value):
        return value
    return new_request_id()


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = accept_or_generate(request.META.get(_META_KEY))
        request.request_id = request_id  # type: ignore[attr-defined]
        request.META[ENVIRON_REQUEST_ID] = request_id
        request.META[ENVIRON_TRACE_ID] = current_trace_id() or "-"
        token = current_request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response[HEADER] = request_id
        return response


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            # django.request logs after the middleware has returned, but passes the request.
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "request_id", None) or current_request_id.get()
        if not hasattr(record, "trace_id"):
            record.trace_id = current_trace_id() or "-"
        return True
