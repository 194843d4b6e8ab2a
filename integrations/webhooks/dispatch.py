"""Sending due deliveries: claim, sign, POST, record, retry or dead-letter.

A delivery is claimed with `SELECT ... FOR UPDATE SKIP LOCKED` in a transaction that stays
open while it is sent and its outcome recorded: two dispatchers never send the same row at
once, and a worker that dies mid-delivery (SIGKILL included) leaves the row PENDING, its
lock released by PostgreSQL when the connection drops, to be sent again (at least once: the
receiver may see a `webhook-id` twice, never miss one).

Order per order: a row is claimable only when its subscription has no PENDING delivery of
an earlier version of the same order (being sent, waiting for a retry, or not yet due), so
a later event is not sent before the earlier one is delivered or dead-lettered.

Outcomes: a 2xx answer delivers. Any other status, a timeout, a refused connection or a
refused target counts a failed attempt; the next one is due after the schedule's delay
(WEBHOOK_RETRY_SCHEDULE_SECONDS, with ±20 % jitter), and after the last the delivery is
FAILED (a dead letter). A subscription's first failure after a success starts its
`failing_since`; a success clears it; failing for WEBHOOK_DISABLE_AFTER disables it.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import InvalidToken
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from . import conf, secrets, transport
from .models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from .targets import TargetRefused

logger = logging.getLogger(__name__)

USER_AGENT = "commerce-webhooks/1"
JITTER = 0.2

_CLAIM = """
SELECT d.id, d.event_id, d.payload, d.attempts, s.id, s.url, s.secret_encrypted,
       s.previous_secret_encrypted, s.previous_secret_expires_at
FROM webhook_deliveries d
JOIN webhook_subscriptions s ON s.id = d.subscription_id AND s.active
WHERE d.status = 'PENDING' AND d.next_attempt_at <= now()
  AND NOT EXISTS (
      SELECT 1 FROM webhook_deliveries p
      WHERE p.subscription_id = d.subscription_id AND p.order_id = d.order_id
        AND p.status = 'PENDING' AND p.sequence < d.sequence)
ORDER BY d.next_attempt_at, d.id
LIMIT 1
FOR UPDATE OF d SKIP LOCKED
"""


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status_code: int | None = None
    body: str = ""
    error: str = ""


def secrets_in_force(
    current: str, previous: str, previous_expires_at: datetime | None
) -> list[str]:
    """The secrets that sign now: the current one, and the rotated-out one until it expires."""
    found = [secrets.decrypt(current)]
    if previous and previous_expires_at is not None and previous_expires_at > timezone.now():
        found.append(secrets.decrypt(previous))
    return found


def send(url: str, msg_id: str, body: str, signing_secrets: list[str]) -> Outcome:
    """Sign and POST one message now (no record of it)."""
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": secrets.signature_header(signing_secrets, msg_id, timestamp, body),
    }
    try:
        answer = transport.post(url, body.encode(), headers)
    except TargetRefused as refusal:
        return Outcome(delivered=False, error=f"target refused: {refusal}"[:500])
    except transport.DeliveryError as error:
        return Outcome(delivered=False, error=str(error)[:500])
    return Outcome(
        delivered=200 <= answer.status < 300,
        status_code=answer.status,
        body=answer.body,
        error="" if 200 <= answer.status < 300 else f"HTTP {answer.status}",
    )


def next_delay(attempts_made: int) -> float | None:
    """Seconds until the next attempt after `attempts_made` failed ones; None: no more."""
    schedule = conf.retry_schedule()
    if attempts_made > len(schedule):
        return None
    return schedule[attempts_made - 1] * random.uniform(1 - JITTER, 1 + JITTER)


def deliver_one() -> bool:
    """Claim one due delivery, send it and record the outcome; False when none was due."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM)
            row = cursor.fetchone()
        if row is None:
            return False
        delivery_id, event_id, payload, attempts, subscription_id, url = row[:6]
        try:
            signing = secrets_in_force(row[6], row[7], row[8])
        except InvalidToken:
            outcome = Outcome(delivered=False, error="secret unreadable: was SECRET_KEY changed?")
        else:
            outcome = send(url, str(event_id), payload, signing)
        record(delivery_id, subscription_id, attempts + 1, outcome)
    return True


def record(delivery_id: int, subscription_id: uuid.UUID, attempts: int, outcome: Outcome) -> None:
    now = timezone.now()
    common: dict[str, Any] = {
        "attempts": attempts,
        "last_attempt_at": now,
        "last_response_code": outcome.status_code,
        "last_response_body": outcome.body,
        "last_error": outcome.error,
    }
    subscriptions = WebhookSubscription.objects.filter(pk=subscription_id)
    if outcome.delivered:
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=DeliveryStatus.DELIVERED, delivered_at=now, next_attempt_at=None, **common
        )
        subscriptions.filter(failing_since__isnull=False).update(failing_since=None)
        return
    delay = next_delay(attempts)
    if delay is None:
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            status=DeliveryStatus.FAILED, next_attempt_at=None, **common
        )
        logger.warning("webhook delivery %s dead-lettered: %s", delivery_id, outcome.error)
    else:
        WebhookDelivery.objects.filter(pk=delivery_id).update(
            next_attempt_at=now + timedelta(seconds=delay), **common
        )
    subscriptions.filter(failing_since__isnull=True).update(failing_since=now)
    limit = conf.disable_after()
    disabled = subscriptions.filter(active=True, failing_since__lte=now - limit).update(
        active=False,
        disabled_at=now,
        disabled_reason=f"Disabled after failing for {limit} without a successful delivery.",
    )
    if disabled:
        logger.warning("webhook subscription %s disabled: failing for %s", subscription_id, limit)


def dispatch_due(*, concurrency: int, time_budget: float) -> int:
    """Send due deliveries, `concurrency` at a time, until none is due or `time_budget`
    seconds have passed; returns how many were sent (attempts, not successes)."""
    deadline = time.monotonic() + time_budget

    def drain() -> int:
        sent = 0
        while time.monotonic() < deadline and deliver_one():
            sent += 1
        return sent

    if concurrency <= 1:
        return drain()

    def drain_in_thread() -> int:
        try:
            return drain()
        finally:
            connection.close()

    close_old_connections()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webhook") as pool:
        return sum(pool.map(lambda _: drain_in_thread(), range(concurrency)))


def ping(subscription: WebhookSubscription) -> Outcome:
    """Send a signed test message (type commerce.webhooks.ping) now, recorded nowhere."""
    msg_id = str(uuid.uuid4())
    body = json.dumps(
        {
            "specversion": "1.0",
            "id": msg_id,
            "source": "/commerce/webhooks",
            "type": "commerce.webhooks.ping",
            "subject": str(subscription.pk),
            "time": timezone.now().isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "data": {"subscription_id": str(subscription.pk)},
        },
        separators=(",", ":"),
    )
    try:
        signing = secrets_in_force(
            subscription.secret_encrypted,
            subscription.previous_secret_encrypted,
            subscription.previous_secret_expires_at,
        )
    except InvalidToken:
        return Outcome(delivered=False, error="secret unreadable: was SECRET_KEY changed?")
    return send(subscription.url, msg_id, body, signing)
