"""The webhook pump, run by beat every WEBHOOK_PUMP_INTERVAL on WEBHOOK_QUEUE: the outbox
consumer first (new events become deliveries), then the dispatcher (due deliveries are
sent). Safe to run anywhere at any time, several at once: the consumer holds its
projection lock, the dispatcher claims rows with SKIP LOCKED."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

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


@shared_task(name="integrations.webhooks.tasks.pump_webhooks", ignore_result=True)
def pump_webhooks() -> dict[str, int]:
    done = pump()
    if done["sent"]:
        logger.info(
            "webhooks: %d events read, %d deliveries attempted", done["events"], done["sent"]
        )
    return done
