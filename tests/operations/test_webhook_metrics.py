"""Webhook backlog, dead letters and disabled subscriptions: on /metrics and on the
Operations page."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.utils import timezone

from integrations.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from integrations.webhooks.services import subscription_create
from tests.factories import UserFactory
from tests.operations.scrape import scrape, value

pytestmark = pytest.mark.django_db

HEALTHY = "https://fulfilment.example.com/hooks"
BROKEN = "https://accounting.example.com/hooks"


def deliveries(subscription: WebhookSubscription, status: str, count: int) -> None:
    for sequence in range(1, count + 1):
        WebhookDelivery.objects.create(
            subscription=subscription,
            event_id=uuid.uuid4(),
            event_type="commerce.orders.OrderPaid",
            order_id=uuid.uuid4(),
            sequence=sequence,
            payload="{}",
            status=status,
            attempts=7 if status == DeliveryStatus.FAILED else 1,
            last_error="connection refused" if status == DeliveryStatus.FAILED else "",
            last_attempt_at=timezone.now(),
        )


def test_backlog_dead_letters_and_disabled_subscriptions_are_counted_and_listed() -> None:
    # given a healthy subscription with a backlog, and one that failed until it was disabled
    healthy, _ = subscription_create(url=HEALTHY, event_types=["*"])
    broken, _ = subscription_create(url=BROKEN, event_types=["*"])
    deliveries(healthy, DeliveryStatus.PENDING, 3)
    deliveries(healthy, DeliveryStatus.DELIVERED, 2)
    deliveries(broken, DeliveryStatus.FAILED, 2)
    WebhookSubscription.objects.filter(pk=broken.pk).update(
        active=False, failing_since=timezone.now(), disabled_at=timezone.now()
    )
    # when Prometheus scrapes
    text = scrape()
    # then
    assert value(text, "commerce_webhook_deliveries_pending") == 3
    assert value(text, "commerce_webhook_deliveries_failed", {"endpoint": BROKEN}) == 2
    assert value(text, "commerce_webhook_deliveries_failed", {"endpoint": HEALTHY}) is None
    assert value(text, "commerce_webhook_subscriptions_disabled") == 1
    # and the Operations page lists the broken one, linked to its admin page
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get("/admin/operations/").content.decode()
    panel = page.split('id="failing-webhooks"')[1].split("</div>")[0]
    assert BROKEN in panel
    assert "(disabled)" in panel
    assert "connection refused" in panel
    assert HEALTHY not in panel
    assert f"/{broken.pk}/change/" in panel
