"""Errors of the webhook API a caller may act on (problem+json at the edge)."""

from __future__ import annotations

from commerce_project.errors import NotFound


class WebhookSubscriptionNotFound(NotFound):
    title = "Webhook subscription not found"


class WebhookDeliveryNotFound(NotFound):
    title = "Webhook delivery not found"
