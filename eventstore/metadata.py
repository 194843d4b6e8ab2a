"""Who and what caused an event: the metadata context that `append` merges into every event.

    with metadata_context(correlation_id=saga_id, actor="saga"):
        dispatch(CapturePayment(...))

Contexts nest and inner values override outer ones; a value left as None is inherited.
Outside any context the correlation id is the current HTTP request id, when there is one.
Inside an OpenTelemetry trace every event also carries its `trace_id`, which joins an event
to the request and the saga steps that led to it in the tracing backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from commerce_project.context import current_request_id, current_trace_id

_context: ContextVar[dict[str, Any]] = ContextVar("eventstore_metadata", default={})  # noqa: B039


@contextmanager
def metadata_context(
    *,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    actor: str | None = None,
    **extra: Any,
) -> Iterator[dict[str, Any]]:
    given = {"correlation_id": correlation_id, "causation_id": causation_id, "actor": actor}
    given.update(extra)
    merged = {**_context.get(), **{k: str(v) for k, v in given.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield merged
    finally:
        _context.reset(token)


def current_metadata() -> dict[str, Any]:
    """The metadata an event appended now would carry (before per-event fields)."""
    metadata = dict(_context.get())
    if "correlation_id" not in metadata:
        request_id = current_request_id.get()
        if request_id and request_id != "-":
            metadata["correlation_id"] = request_id
    trace_id = current_trace_id()
    if trace_id is not None:
        metadata["trace_id"] = trace_id
    return metadata
