"""Context of the work in progress, below every app and the API: the request id that the
HTTP edge (`commerce_project.api.request_id`) or a Celery task sets, and that event metadata
and log lines read."""

from __future__ import annotations

import uuid
from contextvars import ContextVar

current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")


def new_request_id() -> str:
    return uuid.uuid4().hex
