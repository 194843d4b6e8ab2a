"""The webhook pump, run by beat every WEBHOOK_PUMP_INTERVAL on WEBHOOK_QUEUE: the outbox
consumer first (new events become deliveries), then the dispatcher (due deliveries are
sent). Safe to run anywhere at any time, several at once: the consumer holds its
projection lock, the dispatcher claims rows with SKIP LOCKED. And the hourly purge of
delivered rows older than WEBHOOK_DELIVERED_RETENTION_DAYS."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import connection
from django.utils import timezone

from eventstore.projections import run_projection

from .dispatch import dispatch_due
from .outbox import OUTBOX_PROJECTION

logger = logging.getLogger(__name__)


def pump() -> dict[str, int]:
    created = run_projection(
        OUTBOX_PROJECTION, batch_size=settings.EVENTSTORE_PROJECTION_BATCH_SIZE
    )
    sent = dispatch_due(
        concurrency=settings.WEBHOOK_DISPATCH_CONCURRENCY,
        time_budget=settings.WEBHOOK_DISPATCH_TIME_BUDGET,
    )
    return {"events": created, "sent": sent}


# One pump at a time per process. Beat sends one every WEBHOOK_PUMP_INTERVAL and a run may
# last WEBHOOK_DISPATCH_TIME_BUDGET with its own dispatcher threads: in a threaded worker,
# overlapping runs would take as many task threads (and pooled connections) as the backlog
# lasts seconds, while the one running already drains it.
_pumping = threading.Lock()


@shared_task(name="integrations.webhooks.tasks.pump_webhooks", ignore_result=True)
def pump_webhooks() -> dict[str, int]:
    if not _pumping.acquire(blocking=False):
        return {"events": 0, "sent": 0}
    try:
        done = pump()
    finally:
        _pumping.release()
    if done["sent"]:
        logger.info(
            "webhooks: %d events read, %d deliveries attempted", done["events"], done["sent"]
        )
    return done


def purge_delivered(older_than: timedelta, *, batch: int = 10_000) -> int:
    """Delete DELIVERED rows delivered before `older_than` ago, a batch per statement (dead
    letters stay until they are redelivered or their subscription is deleted)."""
    cutoff = timezone.now() - older_than
    purged = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries "
                "WHERE status = 'DELIVERED' AND delivered_at < %s LIMIT %s)",
                [cutoff, batch],
            )
            deleted = cursor.rowcount
        purged += deleted
        if deleted < batch:
            return purged


@shared_task(name="integrations.webhooks.tasks.purge_delivered_webhooks", ignore_result=True)
def purge_delivered_webhooks() -> int:
    purged = purge_delivered(settings.WEBHOOK_DELIVERED_RETENTION)
    if purged:
        logger.info("webhooks: %d delivered deliveries purged", purged)
    return purged
