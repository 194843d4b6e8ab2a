"""Publishing saga runs to Celery. A publish that fails (broker down) is logged, never
raised: the database already holds the truth and the sweeper publishes again."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings

from commerce_project.celery import app
from commerce_project.metrics import redis_fail_open

logger = logging.getLogger(__name__)

ADVANCE_TASK = "sagas.tasks.advance_saga"


def saga_enqueue(saga_id: uuid.UUID) -> bool:
    """Publish one `advance_saga` run; False (and a log line) when the broker refused."""
    try:
        app.send_task(
            ADVANCE_TASK,
            args=[str(saga_id)],
            queue=settings.SAGA_QUEUE,
            # The task stores no result, but send_task cannot know that: without this it
            # subscribes to the result's channel before publishing and unsubscribes when the
            # AsyncResult is collected, two Redis round trips per publish for nothing (and
            # a publish would fail while the result backend is down).
            ignore_result=True,
        )
    except Exception:  # any broker failure: the sweeper recovers, the caller must not fail
        redis_fail_open.labels("broker_publish").inc()
        logger.warning(
            "could not publish a run of saga %s; the sweeper will retry", saga_id, exc_info=True
        )
        return False
    return True
