"""Webhooks in the back office: the secret shown once on adding, a subscription disabled
for failing visible to staff, and redelivery."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from integrations.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from integrations.webhooks.services import subscription_create
from tests.factories import staff_with

pytestmark = pytest.mark.django_db

SUBSCRIPTIONS = "/admin/integrations/webhooksubscription/"
DELIVERIES = "/admin/integrations/webhookdelivery/"


@pytest.fixture
def admin_client(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def test_adding_shows_the_secret_once(admin_client: Client) -> None:
    # when
    response = admin_client.post(
        f"{SUBSCRIPTIONS}add/",
        {
            "url": "https://hooks.example.com/in",
            "description": "fulfilment",
            "event_types": '["commerce.orders.OrderPaid"]',
            "active": "on",
        },
        follow=True,
    )
    # then
    assert response.status_code == 200
    subscription = WebhookSubscription.objects.get()
    page = response.content.decode()
    assert "shown once" in page
    assert "whsec_" in page
    detail = admin_client.get(f"{SUBSCRIPTIONS}{subscription.pk}/change/").content.decode()
    assert "whsec_" not in detail
    assert subscription.secret_encrypted not in detail


def test_bad_event_types_are_refused_in_the_form(admin_client: Client) -> None:
    response = admin_client.post(
        f"{SUBSCRIPTIONS}add/",
        {"url": "https://hooks.example.com/in", "event_types": '["nope"]', "active": "on"},
    )
    assert response.status_code == 200  # the form again, with its error
    assert "not a published event type" in response.content.decode()
    assert not WebhookSubscription.objects.exists()


def test_a_subscription_disabled_for_failing_is_shown_to_staff(admin_client: Client) -> None:
    # given
    subscription, _ = subscription_create(url="https://down.example.com/", event_types=["*"])
    now = timezone.now()
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        active=False, failing_since=now, disabled_at=now, disabled_reason="failing"
    )
    # when
    page = admin_client.get(SUBSCRIPTIONS).content.decode()
    filtered = admin_client.get(SUBSCRIPTIONS, {"disabled": "yes"}).content.decode()
    # then
    assert "disabled for failing: https://down.example.com/" in page
    assert "DISABLED for failing since" in page
    assert "https://down.example.com/" in filtered


def test_redeliver_action_needs_the_change_permission(admin_client: Client) -> None:
    # given: a dead letter
    subscription, _ = subscription_create(url="https://hooks.example.com/", event_types=["*"])
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        event_id="00000000-0000-0000-0000-000000000001",
        event_type="commerce.orders.OrderPaid",
        order_id="00000000-0000-0000-0000-000000000002",
        sequence=3,
        payload="{}",
        status=DeliveryStatus.FAILED,
        attempts=7,
    )
    viewer = Client()
    viewer.force_login(staff_with("integrations.view_webhookdelivery"))
    # when a viewer tries, nothing happens
    viewer.post(DELIVERIES, {"action": "redeliver", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    # when staff holding the permission does
    admin_client.post(DELIVERIES, {"action": "redeliver", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)
