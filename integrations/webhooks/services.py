"""What staff do to webhook subscriptions and deliveries, through the API or the admin.

The secret is returned only by `subscription_create` and `subscription_rotate_secret`, to be
shown once; it is stored encrypted and nothing reads it back for display.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import secrets
from .models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from .targets import check_literal


def _current_snapshot() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_snapshot()::text")
        row = cursor.fetchone()
    assert row is not None
    return str(row[0])


@transaction.atomic
def subscription_create(
    *, url: str, event_types: Sequence[str], description: str = ""
) -> tuple[WebhookSubscription, str]:
    """A new active subscription and its secret (shown once). It receives the events whose
    transactions commit after this one's snapshot: history is what the feed is for."""
    check_literal(url)
    secret = secrets.new_secret()
    subscription = WebhookSubscription.objects.create(
        url=url,
        event_types=list(event_types),
        description=description,
        secret_encrypted=secrets.encrypt(secret),
        created_snapshot=_current_snapshot(),
    )
    return subscription, secret


@transaction.atomic
def subscription_update(subscription: WebhookSubscription, **changes: Any) -> WebhookSubscription:
    """Change url, event_types, description or active. Activating a subscription clears a
    disabling for failures; its pending deliveries are sent again."""
    if "url" in changes:
        check_literal(changes["url"])
    for field, value in changes.items():
        setattr(subscription, field, list(value) if field == "event_types" else value)
    if changes.get("active") is True:
        subscription.disabled_at = None
        subscription.disabled_reason = ""
        subscription.failing_since = None
    subscription.save()
    return subscription


@transaction.atomic
def subscription_rotate_secret(
    subscription: WebhookSubscription,
) -> tuple[WebhookSubscription, str]:
    """A new secret (shown once); the one it replaces keeps signing beside it for
    WEBHOOK_SECRET_OVERLAP, so receivers can switch without losing a message."""
    locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    secret = secrets.new_secret()
    locked.previous_secret_encrypted = locked.secret_encrypted
    locked.previous_secret_expires_at = timezone.now() + settings.WEBHOOK_SECRET_OVERLAP
    locked.secret_encrypted = secrets.encrypt(secret)
    locked.save()
    return locked, secret


def subscription_delete(subscription: WebhookSubscription) -> None:
    subscription.delete()  # its deliveries go with it


@transaction.atomic
def delivery_redeliver(delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again from the first attempt (a dead letter, or a delivered one the
    receiver lost), with the same `webhook-id` and body."""
    locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    locked.status = DeliveryStatus.PENDING
    locked.attempts = 0
    locked.next_attempt_at = timezone.now()
    locked.delivered_at = None
    locked.save(update_fields=["status", "attempts", "next_attempt_at", "delivered_at"])
    return locked
