"""Sending due deliveries: claim, sign, POST, record, retry or dead-letter.

Deliveries are claimed a batch at a time (WEBHOOK_DISPATCH_BATCH) with `SELECT ... FOR
UPDATE SKIP LOCKED` in a transaction that stays open while they are sent and their outcomes
recorded: two dispatchers never send the same row at once, and a worker that dies
mid-delivery (SIGKILL included) leaves its rows PENDING, their locks released by PostgreSQL
when the connection drops, to be sent again (at least once: the receiver may see a
`webhook-id` twice, never miss one). A batch stops sending when the run's time budget is
spent, so a slow receiver cannot hold a worker past the task time limit.

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
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import conf, secrets, transport
from .models import DeliveryStatus, WebhookSubscription
from .targets import TargetRefused

logger = logging.getLogger(__name__)

USER_AGENT = "commerce-webhooks/1"
JITTER = 0.2

_CLAIM = """
SELECT d.id, d.event_id, d.payload, d.attempts, s.id, s.url, s.secret_encrypted,
       s.previous_secret_encrypted, s.previous_secret_expires_at, s.failing_since
FROM webhook_deliveries d
JOIN webhook_subscriptions s ON s.id = d.subscription_id AND s.active
WHERE d.status = 'PENDING' AND d.next_attempt_at <= now()
  AND NOT EXISTS (
      SELECT 1 FROM webhook_deliveries p
      WHERE p.subscription_id = d.subscription_id AND p.order_id = d.order_id
        AND p.status = 'PENDING' AND p.sequence < d.sequence)
ORDER BY d.next_attempt_at, d.id
LIMIT %s
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


def send_signed(
    url: str,
    msg_id: str,
    body: str,
    *,
    current: str,
    previous: str,
    previous_expires_at: datetime | None,
) -> Outcome:
    """`send` with the secrets in force, decrypted from a subscription's stored ones."""
    try:
        signing = secrets_in_force(current, previous, previous_expires_at)
    except InvalidToken:
        return Outcome(delivered=False, error="secret unreadable: was SECRET_KEY changed?")
    return send(url, msg_id, body, signing)


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
        return Outcome(delivered=False, error=_text(str(error)))
    except Exception as error:  # one odd target must never stop the batch it is in
        logger.exception("webhook POST to %s failed unexpectedly", url)
        return Outcome(delivered=False, error=_text(f"{type(error).__name__}: {error}"))
    return Outcome(
        delivered=200 <= answer.status < 300,
        status_code=answer.status,
        body=answer.body,
        error="" if 200 <= answer.status < 300 else f"HTTP {answer.status}",
    )


def _text(error: str) -> str:
    """An error as a delivery row can keep it: bounded, and without NUL (PostgreSQL text)."""
    return error.replace("\x00", "\ufffd")[:500]


def next_delay(attempts_made: int) -> float | None:
    """Seconds until the next attempt after `attempts_made` failed ones; None: no more."""
    schedule = conf.retry_schedule()
    if attempts_made > len(schedule):
        return None
    return schedule[attempts_made - 1] * random.uniform(1 - JITTER, 1 + JITTER)


def deliver_batch(limit: int, deadline: float) -> int:
    """Claim up to `limit` due deliveries, send them one after the other (none once
    `deadline` (monotonic) has passed) and record the outcomes; the number sent, 0 when none
    was due. A claimed row not sent is released unchanged at commit."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Losing this commit in a database crash only sends these deliveries again,
            # which at-least-once delivery allows; not waiting for the WAL flush per batch
            # is most of the dispatcher's speed.
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute(_CLAIM, [limit])
            rows = cursor.fetchall()
        done: list[tuple[Claimed, Outcome]] = []
        for row in rows:
            if done and time.monotonic() >= deadline:
                break
            claimed = Claimed(*row)
            done.append((claimed, attempt(claimed)))
        record(done)
    return len(done)


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    event_id: uuid.UUID
    payload: str
    attempts: int
    subscription_id: uuid.UUID
    url: str
    secret_encrypted: str
    previous_secret_encrypted: str
    previous_secret_expires_at: datetime | None
    failing_since: datetime | None


def attempt(claimed: Claimed) -> Outcome:
    return send_signed(
        claimed.url,
        str(claimed.event_id),
        claimed.payload,
        current=claimed.secret_encrypted,
        previous=claimed.previous_secret_encrypted,
        previous_expires_at=claimed.previous_secret_expires_at,
    )


_RECORD = """
UPDATE webhook_deliveries d
SET status = u.status, attempts = u.attempts, next_attempt_at = u.next_attempt_at,
    last_attempt_at = %s, last_response_code = u.code, last_response_body = u.body,
    last_error = u.error,
    delivered_at = CASE WHEN u.status = 'DELIVERED' THEN %s ELSE d.delivered_at END
FROM unnest(%s::bigint[], %s::text[], %s::int[], %s::timestamptz[], %s::int[], %s::text[],
            %s::text[]) AS u(id, status, attempts, next_attempt_at, code, body, error)
WHERE d.id = u.id
"""


def record(done: list[tuple[Claimed, Outcome]]) -> None:
    """The outcomes of a batch in one statement, then what they say of each subscription."""
    if not done:
        return
    now = timezone.now()
    columns: list[list[Any]] = [[] for _ in range(7)]
    last_outcome: dict[uuid.UUID, tuple[Claimed, Outcome]] = {}
    for claimed, outcome in done:
        attempts = claimed.attempts + 1
        if outcome.delivered:
            status, next_at = DeliveryStatus.DELIVERED, None
        else:
            delay = next_delay(attempts)
            if delay is None:
                status, next_at = DeliveryStatus.FAILED, None
                logger.warning(
                    "webhook delivery %s dead-lettered: %s", claimed.delivery_id, outcome.error
                )
            else:
                status, next_at = DeliveryStatus.PENDING, now + timedelta(seconds=delay)
        values = (
            claimed.delivery_id,
            str(status),
            attempts,
            next_at,
            outcome.status_code,
            outcome.body,
            outcome.error,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
        last_outcome[claimed.subscription_id] = (claimed, outcome)
    with connection.cursor() as cursor:
        cursor.execute(_RECORD, [now, now, *columns])
    for subscription_id, (claimed, outcome) in last_outcome.items():
        subscriptions = WebhookSubscription.objects.filter(pk=subscription_id)
        if outcome.delivered:
            if claimed.failing_since is not None:
                subscriptions.update(failing_since=None)
            continue
        subscriptions.filter(failing_since__isnull=True).update(failing_since=now)
        limit = conf.disable_after()
        disabled = subscriptions.filter(active=True, failing_since__lte=now - limit).update(
            active=False,
            disabled_at=now,
            disabled_reason=f"Disabled after failing for {limit} without a successful delivery.",
        )
        if disabled:
            logger.warning(
                "webhook subscription %s disabled: failing for %s", subscription_id, limit
            )


def dispatch_due(*, concurrency: int, time_budget: float) -> int:
    """Send due deliveries, `concurrency` at a time, until none is due or `time_budget`
    seconds have passed; returns how many were sent (attempts, not successes)."""
    deadline = time.monotonic() + time_budget
    batch = max(1, settings.WEBHOOK_DISPATCH_BATCH)

    def drain() -> int:
        sent = 0
        while time.monotonic() < deadline:
            done = deliver_batch(batch, deadline)
            if not done:
                break
            sent += done
        return sent

    # One batch first, in this thread: an idle or light run needs no helper threads (and
    # no database connections of their own); a full batch says more is due.
    sent = deliver_batch(batch, deadline)
    if sent < batch:
        return sent
    if concurrency <= 1:
        return sent + drain()

    def drain_in_thread() -> int:
        try:
            return drain()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=concurrency - 1, thread_name_prefix="webhook") as pool:
        helpers = [pool.submit(drain_in_thread) for _ in range(concurrency - 1)]
        sent += drain()
        return sent + sum(helper.result() for helper in helpers)


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
    return send_signed(
        subscription.url,
        msg_id,
        body,
        current=subscription.secret_encrypted,
        previous=subscription.previous_secret_encrypted,
        previous_expires_at=subscription.previous_secret_expires_at,
    )
