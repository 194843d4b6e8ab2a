"""Running projections: inline, inside the appending transaction, and as catch-up
consumers from their checkpoints.

Asynchronous projections (`inline = False`) are advanced by `run_projection(name)`, which
the Celery task `eventstore.tasks.run_async_projections` calls on a beat schedule: it reads
from its checkpoint in `projection_checkpoints` and writes the read model and the new
checkpoint in one transaction, holding an advisory lock so one runner works per projection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction

from ..store import RecordedEvent, read_all
from .checkpoints import checkpoint_get, checkpoint_set
from .registry import get_projection, registered_projections

# pg_advisory_xact_lock(classid, objid): the first key keeps our locks apart from others'.
_LOCK_CLASS = 0x45565354  # "EVST"


def run_inline_projections(sender: str, events: Sequence[RecordedEvent], **_: Any) -> None:
    """`events_appended` receiver: inline projections write inside the appending
    transaction, so a rolled-back append leaves no trace in any read model."""
    for projection in registered_projections():
        if projection.inline:
            relevant = [e for e in events if projection.wants(e.event_type)]
            if relevant:
                projection.handle(relevant)


def projection_lock(name: str, *, wait: bool) -> bool:
    """Take the projection's runner lock for the current transaction."""
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, hashtext(%s))", [_LOCK_CLASS, name])
        row = cursor.fetchone()
    return wait or bool(row and row[0])


def run_projection(name: str, *, batch_size: int = 500, max_batches: int | None = None) -> int:
    """Advance a projection from its checkpoint until it has caught up (or `max_batches`
    batches were done). Each batch is one transaction: read-model writes and the new
    checkpoint commit together. Returns the number of events handled; 0 also when another
    runner holds the projection's lock."""
    projection = get_projection(name)
    types = projection.event_types or None
    handled = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        with transaction.atomic():
            if not projection_lock(name, wait=False):
                break
            after = checkpoint_get(name).position
            events = read_all(after, batch_size, types)
            if not events:
                break
            projection.handle(events)
            checkpoint_set(name, events[-1].position, processed=len(events), absolute=False)
        handled += len(events)
        batches += 1
        if len(events) < batch_size:
            break
    return handled
