"""Webhook backlog and failures, read from the webhooks tables at scrape time (cheap
aggregates: pending deliveries through their partial index, dead letters are few) and
listed on the Operations page."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q
from django.urls import reverse
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from integrations.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription


@dataclass(frozen=True)
class FailingWebhook:
    endpoint: str
    failures: int
    last_error: str
    admin_url: str
    disabled: bool


def webhook_metric_families() -> list[Metric]:
    pending = GaugeMetricFamily(
        "commerce_webhook_deliveries_pending",
        "Webhook deliveries not yet delivered nor dead-lettered (the backlog), retries included.",
    )
    pending.add_metric([], WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count())
    failed = GaugeMetricFamily(
        "commerce_webhook_deliveries_failed",
        "Dead-lettered webhook deliveries (every attempt failed) waiting for a redelivery, by "
        "subscription endpoint.",
        labels=["endpoint"],
    )
    for endpoint, count in (
        WebhookDelivery.objects.filter(status=DeliveryStatus.FAILED)
        .values_list("subscription__url")
        .annotate(n=Count("id"))
        .order_by()
    ):
        failed.add_metric([endpoint], count)
    disabled = GaugeMetricFamily(
        "commerce_webhook_subscriptions_disabled",
        "Subscriptions switched off because their deliveries kept failing.",
    )
    disabled.add_metric([], WebhookSubscription.objects.filter(disabled_at__isnull=False).count())
    return [pending, failed, disabled]


def failing_webhooks(*, limit: int = 50) -> list[FailingWebhook]:
    """Subscriptions failing now (or disabled for it), the worst first."""
    subscriptions = (
        WebhookSubscription.objects.filter(
            Q(failing_since__isnull=False) | Q(disabled_at__isnull=False)
        )
        .annotate(failures=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)))
        .order_by("failing_since")[:limit]
    )
    rows = []
    for subscription in subscriptions:
        last = (
            WebhookDelivery.objects.filter(subscription=subscription)
            .exclude(last_error="")
            .order_by("-last_attempt_at")
            .values_list("last_error", flat=True)
            .first()
        )
        meta = WebhookSubscription._meta
        rows.append(
            FailingWebhook(
                endpoint=subscription.url,
                failures=subscription.failures,
                last_error=last or subscription.disabled_reason,
                admin_url=reverse(
                    f"admin:{meta.app_label}_{meta.model_name}_change", args=[subscription.pk]
                ),
                disabled=subscription.disabled_at is not None,
            )
        )
    return rows
