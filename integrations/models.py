"""The integrations app's tables: see each area's models module."""

from .webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription

__all__ = ["DeliveryStatus", "WebhookDelivery", "WebhookSubscription"]
