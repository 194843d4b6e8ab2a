"""Webhook subscriptions and their deliveries (the outbox).

A subscription's signing secret is stored encrypted (`secrets.encrypt`), never in clear and
never shown after the answer that created or rotated it. `created_snapshot` is the
PostgreSQL snapshot (`pg_current_snapshot()`) of the transaction that created it: an event
whose transaction that snapshot already saw as committed is history and is not delivered.

A delivery is one (subscription, event) pair, unique, created by the outbox consumer;
`payload` holds the exact bytes signed and sent, the same on every retry and redelivery.
"""

from __future__ import annotations

import uuid

from django.db import models


class WebhookSubscription(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=500, blank=True, default="")
    # CloudEvents types (commerce.orders.OrderPaid), or ["*"] for every published type.
    event_types = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    secret_encrypted = models.TextField(editable=False)
    previous_secret_encrypted = models.TextField(blank=True, default="", editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_snapshot = models.TextField(editable=False)
    # Set by the first failed attempt after a success; cleared by the next success.
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=500, blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "webhook_subscriptions"
        ordering = ["created_at", "id"]
        verbose_name = "webhook subscription"

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    # Dead letter: every attempt of the schedule failed; staff may redeliver it.
    FAILED = "FAILED"


class WebhookDelivery(models.Model):
    id = models.BigAutoField(primary_key=True)
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=200)  # the CloudEvents type
    order_id = models.UUIDField()
    sequence = models.IntegerField()  # the order stream's version
    payload = models.TextField()
    status = models.CharField(
        max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.IntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_response_code = models.IntegerField(null=True, blank=True)
    last_response_body = models.TextField(blank=True, default="")
    last_error = models.CharField(max_length=500, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "webhook_deliveries"
        ordering = ["id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event_id"], name="webhook_delivery_once_per_event"
            ),
        ]
        indexes = [
            # The dispatcher's claim: due pending rows, and "an earlier pending one of the
            # same order for the same subscription".
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="PENDING"),
                name="webhook_delivery_due",
            ),
            models.Index(
                fields=["subscription", "order_id", "sequence"],
                condition=models.Q(status="PENDING"),
                name="webhook_delivery_pending_order",
            ),
            models.Index(fields=["subscription", "-id"], name="webhook_delivery_by_sub"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → {self.subscription_id} ({self.status})"
