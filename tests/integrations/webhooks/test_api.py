"""The webhook subscriptions API: who may call it, what it answers, bad input."""

from __future__ import annotations

import base64

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from accounts.models import User
from integrations.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from tests.conftest import client_for
from tests.factories import staff_with

from .conftest import new_order, pump_until, subscribe
from .receiver import Receiver

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhooks/"
ALL = (
    "integrations.view_webhooksubscription",
    "integrations.add_webhooksubscription",
    "integrations.change_webhooksubscription",
    "integrations.delete_webhooksubscription",
)


@pytest.fixture
def hooks_client() -> APIClient:
    return client_for(staff_with(*ALL))


def create(client: APIClient, **body: object) -> dict[str, object]:
    payload = {"url": "https://hooks.example.com/in", "event_types": ["*"], **body}
    response = client.post(URL, payload, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def test_create_shows_the_secret_once(hooks_client: APIClient) -> None:
    # when
    created = create(
        hooks_client, event_types=["commerce.orders.OrderPaid"], description="accounting"
    )
    # then
    secret = str(created["secret"])
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert created["event_types"] == ["commerce.orders.OrderPaid"]
    assert created["active"] is True
    assert created["description"] == "accounting"
    detail = hooks_client.get(f"{URL}{created['id']}/")
    listed = hooks_client.get(URL)
    assert detail.status_code == listed.status_code == 200
    assert "secret" not in detail.json()
    assert secret not in detail.content.decode() + listed.content.decode()
    assert [row["id"] for row in listed.json()["results"]] == [created["id"]]


def test_patch_changes_url_types_and_active(hooks_client: APIClient) -> None:
    created = create(hooks_client)
    response = hooks_client.patch(
        f"{URL}{created['id']}/",
        {
            "url": "https://other.example.com/x",
            "event_types": ["commerce.orders.OrderCreated"],
            "active": False,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    stored = WebhookSubscription.objects.get(pk=created["id"])
    assert (stored.url, stored.event_types, stored.active) == (
        "https://other.example.com/x",
        ["commerce.orders.OrderCreated"],
        False,
    )


def test_delete_removes_the_subscription(hooks_client: APIClient) -> None:
    created = create(hooks_client)
    assert hooks_client.delete(f"{URL}{created['id']}/").status_code == 204
    missing = hooks_client.get(f"{URL}{created['id']}/")
    assert missing.status_code == 404
    assert missing["content-type"].startswith("application/problem+json")


def test_rotate_secret_answers_a_new_secret(hooks_client: APIClient) -> None:
    created = create(hooks_client)
    response = hooks_client.post(f"{URL}{created['id']}/rotate-secret/")
    assert response.status_code == 200
    new_secret = response.json()["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != created["secret"]
    assert WebhookSubscription.objects.get(pk=created["id"]).previous_secret_expires_at


@pytest.mark.django_db(transaction=True)
def test_deliveries_list_and_redeliver(hooks_client: APIClient, receiver: Receiver) -> None:
    # given: one delivered event
    subscription = subscribe(receiver)
    order_id = new_order()
    pump_until(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).exists())
    # when
    listed = hooks_client.get(f"{URL}{subscription.pk}/deliveries/")
    # then
    assert listed.status_code == 200
    [row] = listed.json()["results"]
    assert {
        "id",
        "event_id",
        "event_type",
        "status",
        "attempts",
        "last_response_code",
        "next_attempt_at",
    } <= set(row)
    assert row["event_type"] == "commerce.orders.OrderCreated"
    assert (row["status"], row["attempts"], row["last_response_code"]) == ("DELIVERED", 1, 200)
    # when redelivered, the same webhook-id arrives again
    redeliver = hooks_client.post(f"{URL}{subscription.pk}/deliveries/{row['id']}/redeliver/")
    assert redeliver.status_code == 202
    assert redeliver.json()["status"] == "PENDING"
    pump_until(lambda: len(receiver.received) == 2)
    assert receiver.ids()[0] == receiver.ids()[1] == row["event_id"]
    assert str(order_id) == receiver.received[1].json["subject"]
    unknown = hooks_client.post(f"{URL}{subscription.pk}/deliveries/999999/redeliver/")
    assert unknown.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_ping_sends_a_signed_message(hooks_client: APIClient, receiver: Receiver) -> None:
    subscription = subscribe(receiver)
    response = hooks_client.post(f"{URL}{subscription.pk}/ping/")
    assert response.status_code == 200
    assert response.json() == {"delivered": True, "response_code": 200, "error": ""}
    [ping] = receiver.received
    assert ping.verified_with
    assert ping.json["type"] == "commerce.webhooks.ping"


def test_anonymous_is_401_and_customers_403(api_client: APIClient, customer: User) -> None:
    assert api_client.get(URL).status_code == 401
    assert (
        api_client.post(URL, {"url": "https://a.example", "event_types": ["*"]}).status_code == 401
    )
    customer_client = client_for(customer)
    assert customer_client.get(URL).status_code == 403
    forbidden = customer_client.post(URL, {"url": "https://a.example", "event_types": ["*"]})
    assert forbidden.status_code == 403
    assert forbidden.json()["type"].endswith("forbidden")
    assert not WebhookSubscription.objects.exists()


def test_each_action_needs_its_own_permission(hooks_client: APIClient) -> None:
    created = create(hooks_client)
    viewer = client_for(staff_with("integrations.view_webhooksubscription"))
    assert viewer.get(URL).status_code == 200
    assert viewer.get(f"{URL}{created['id']}/deliveries/").status_code == 200
    assert viewer.post(URL, {"url": "https://a.example", "event_types": ["*"]}).status_code == 403
    assert viewer.patch(f"{URL}{created['id']}/", {"active": False}).status_code == 403
    assert viewer.post(f"{URL}{created['id']}/rotate-secret/").status_code == 403
    assert viewer.delete(f"{URL}{created['id']}/").status_code == 403
    staff_without = client_for(staff_with())
    assert staff_without.get(URL).status_code == 403
    assert WebhookSubscription.objects.get(pk=created["id"]).active


@pytest.mark.parametrize(
    "body",
    [
        {"url": "https://a.example", "event_types": []},
        {"url": "https://a.example", "event_types": ["commerce.orders.NoSuchEvent"]},
        {"url": "https://a.example", "event_types": ["commerce.orders.OrderNoteAdded"]},
        {"url": "https://a.example", "event_types": ["OrderPaid"]},
        {"url": "https://a.example", "event_types": ["*", "commerce.orders.OrderPaid"]},
        {"url": "https://a.example", "event_types": "*"},
        {"url": "ftp://a.example/x", "event_types": ["*"]},
        {"url": "not a url", "event_types": ["*"]},
        {"url": "http://127.0.0.1:8000/x", "event_types": ["*"]},
        {"url": "http://169.254.169.254/latest", "event_types": ["*"]},
        {"event_types": ["*"]},
    ],
)
def test_bad_input_is_400(
    hooks_client: APIClient, settings: SettingsWrapper, body: dict[str, object]
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    response = hooks_client.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert response["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("invalid-input")
    assert not WebhookSubscription.objects.exists()


def test_bad_patch_is_400(hooks_client: APIClient) -> None:
    created = create(hooks_client)
    for body in ({}, {"event_types": ["nope"]}, {"url": "gopher://x"}, {"active": "maybe"}):
        response = hooks_client.patch(f"{URL}{created['id']}/", body, format="json")
        assert response.status_code == 400, (body, response.content)


def test_unknown_subscription_is_404(hooks_client: APIClient) -> None:
    assert hooks_client.get(f"{URL}not-a-uuid/").status_code == 404
    assert hooks_client.post(f"{URL}00000000-0000-0000-0000-000000000000/ping/").status_code == 404
