"""Celery entry point for asynchronous projections (run by beat, see settings)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from .projections import projection_registry, run_projection

logger = logging.getLogger(__name__)


@shared_task(name="eventstore.tasks.run_async_projections", ignore_result=True)
def run_async_projections() -> dict[str, int]:
    """Advance every asynchronous projection from its checkpoint. Safe to run anywhere at
    any time: a projection another runner is working on is skipped (advisory lock)."""
    handled = {}
    for name, projection in projection_registry().items():
        if projection.inline:
            continue
        handled[name] = run_projection(name, batch_size=settings.EVENTSTORE_PROJECTION_BATCH_SIZE)
        if handled[name]:
            logger.info("projection %s handled %d events", name, handled[name])
    return handled
