"""Deliveries end to end in the test process: the real event store, the outbox consumer,
the dispatcher and a real receiver that verifies every signature with `standardwebhooks`."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from eventstore.projections import checkpoint_set
from eventstore.store import load_ranges
from integrations import cloudevents
from integrations.cursor import cursor_decode
from integrations.webhooks import tasks
from integrations.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from integrations.webhooks.outbox import OUTBOX_PROJECTION, create_deliveries
from integrations.webhooks.services import delivery_redeliver, subscription_rotate_secret
from integrations.webhooks.tasks import pump, purge_delivered

from .conftest import new_order, order_event, pump_until, subscribe
from .receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def delivered_count() -> int:
    return WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count()


def test_every_event_arrives_signed_as_a_cloudevent(receiver: Receiver) -> None:
    # given
    subscription = subscribe(receiver)
    order_id = new_order()
    second = order_event(order_id, 1)
    # when
    pump_until(lambda: delivered_count() == 2)
    # then
    assert receiver.all_verified()
    bodies = [r.json for r in receiver.received]
    assert [b["sequence"] for b in bodies] == [1, 2]
    last = bodies[1]
    assert last["id"] == str(second.id) == receiver.received[1].webhook_id
    assert last["type"] == "commerce.orders.ShippingAddressSet"
    assert last["subject"] == str(order_id)
    assert last["specversion"] == "1.0"
    assert last["data"]["address"]["line1"] == "v2"
    # the position is a feed cursor: the feed reads on right after this event
    assert cursor_decode(last["position"]).anchor == second.position
    row = WebhookDelivery.objects.get(subscription=subscription, event_id=second.id)
    assert (row.attempts, row.last_response_code) == (1, 200)


def test_a_new_subscription_gets_only_events_committed_after_it(receiver: Receiver) -> None:
    # given: history before the subscription
    old_order = new_order()
    order_event(old_order, 1)
    subscribe(receiver)
    # when
    later = order_event(old_order, 2)
    pump_until(lambda: delivered_count() == 1)
    pump()
    # then
    assert receiver.ids() == [str(later.id)]


def test_event_types_choose_what_is_sent_and_internal_types_never_go_out(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: one subscription for creations only; ShippingAddressSet made internal here
    subscribe(receiver, ["commerce.orders.OrderCreated"])
    everything = Receiver().start()
    try:
        subscribe(everything, ["*"])
        monkeypatch.setattr(cloudevents, "INTERNAL_EVENT_TYPES", frozenset({"ShippingAddressSet"}))
        # when
        order_id = new_order()
        order_event(order_id, 1)
        order_event(order_id, 2)
        pump_until(lambda: delivered_count() == 2)
        pump()
        # then
        assert [r.json["type"] for r in receiver.received] == ["commerce.orders.OrderCreated"]
        assert [r.json["type"] for r in everything.received] == ["commerce.orders.OrderCreated"]
    finally:
        everything.stop()


def test_one_delivery_per_subscription_and_event_even_when_events_are_read_again(
    receiver: Receiver,
) -> None:
    # given: deliveries created
    subscription = subscribe(receiver)
    order_id = new_order()
    order_event(order_id, 1)
    pump_until(lambda: delivered_count() == 2)
    # when: the consumer's checkpoint goes back to the start and it reads everything again
    checkpoint_set(OUTBOX_PROJECTION, (0, 0), processed=0, absolute=True)
    pump()
    # then
    assert WebhookDelivery.objects.filter(subscription=subscription).count() == 2
    assert len(receiver.received) == 2


def test_an_earlier_version_read_later_gets_its_delivery_with_the_later_one(
    receiver: Receiver,
) -> None:
    # given: v2 handed to the consumer in a batch that ends before v1 (as when v1's
    # transaction id is the newer one)
    subscription = subscribe(receiver)
    order_id = new_order()
    second = order_event(order_id, 1)
    [first] = load_ranges([(order_id, 1, 1)])
    before_first = (first.position[0], first.position[1] - 1)
    # when
    create_deliveries([second], frontier=before_first)
    # then: both exist, so the dispatcher's "earlier pending" rule holds v2 back
    rows = WebhookDelivery.objects.filter(subscription=subscription).order_by("sequence")
    assert [r.sequence for r in rows] == [1, 2]


def test_receiver_down_then_up_every_event_arrives_in_order_per_order(
    settings: SettingsWrapper,
) -> None:
    # given: the receiver is down; retries fast and many
    settings.WEBHOOK_RETRY_SCHEDULE_SECONDS = ",".join(["0.05"] * 40)
    receiver = Receiver().start()
    subscribe(receiver)
    receiver.stop()
    orders = [new_order() for _ in range(3)]
    for version in range(1, 4):
        for order_id in orders:
            order_event(order_id, version)
    expected = {str(e.id): e for e in load_ranges([(o, 1, 4) for o in orders])}
    assert len(expected) == 12
    # when: a few pumps fail against the closed port, then it comes back
    failed = WebhookDelivery.objects.filter(attempts__gte=2, status=DeliveryStatus.PENDING)
    pump_until(failed.exists)
    assert not failed.filter(last_response_code__isnull=False).exists()
    receiver.start()
    try:
        pump_until(lambda: delivered_count() == len(expected))
    finally:
        receiver.stop()
    # then: none missing, all verified, each order's events in version order
    assert set(receiver.ids()) == set(expected)
    assert receiver.all_verified()
    seen: dict[str, list[int]] = defaultdict(list)
    for record in receiver.received:
        body = record.json
        if body["sequence"] not in seen[body["subject"]]:
            seen[body["subject"]].append(body["sequence"])
    assert all(versions == [1, 2, 3, 4] for versions in seen.values())
    assert len(seen) == 3


def test_a_later_event_waits_until_the_earlier_one_is_dead_lettered(
    settings: SettingsWrapper,
) -> None:
    # given: the receiver rejects the first message three times (every attempt of it)
    settings.WEBHOOK_RETRY_SCHEDULE_SECONDS = "0.05,0.05"
    receiver = Receiver(answer=lambda n: 500 if n <= 3 else 204).start()
    try:
        subscription = subscribe(receiver)
        order_id = new_order()
        order_event(order_id, 1)
        # when
        pump_until(lambda: delivered_count() == 1)
        # then: v1 three times and dead, and only then v2
        assert [r.json["sequence"] for r in receiver.received] == [1, 1, 1, 2]
        dead = WebhookDelivery.objects.get(subscription=subscription, sequence=1)
        assert (dead.status, dead.attempts, dead.last_response_code) == (
            DeliveryStatus.FAILED,
            3,
            500,
        )
        assert dead.next_attempt_at is None
        assert "answer 500" in dead.last_response_body
        # and a dead letter can be redelivered
        delivery_redeliver(dead)
        pump_until(lambda: delivered_count() == 2)
        assert [r.json["sequence"] for r in receiver.received] == [1, 1, 1, 2, 1]
    finally:
        receiver.stop()


def test_response_bodies_are_kept_truncated(receiver: Receiver, settings: SettingsWrapper) -> None:
    settings.WEBHOOK_RESPONSE_BODY_LIMIT = 6
    subscribe(receiver)
    new_order()
    pump_until(lambda: delivered_count() == 1)
    assert WebhookDelivery.objects.get().last_response_body == "answer"


def test_a_subscription_failing_for_too_long_is_disabled(settings: SettingsWrapper) -> None:
    # given: every attempt fails, and failing for a moment is too long
    settings.WEBHOOK_RETRY_SCHEDULE_SECONDS = ",".join(["0.05"] * 100)
    settings.WEBHOOK_DISABLE_AFTER = "0.3"
    receiver = Receiver(answer=503).start()
    try:
        subscription = subscribe(receiver)
        new_order()
        # when
        pump_until(lambda: not WebhookSubscription.objects.get(pk=subscription.pk).active)
        # then
        disabled = WebhookSubscription.objects.get(pk=subscription.pk)
        assert disabled.disabled_at is not None
        assert "failing" in disabled.disabled_reason
        attempts = len(receiver.received)
        pump()
        assert len(receiver.received) == attempts  # nothing more is sent
        assert WebhookDelivery.objects.get().status == DeliveryStatus.PENDING
    finally:
        receiver.stop()


def test_during_a_rotation_both_secrets_sign_and_then_only_the_new_one(
    receiver: Receiver,
) -> None:
    # given
    subscription = subscribe(receiver)
    old_secret = receiver.secrets[0]
    order_id = new_order()
    pump_until(lambda: delivered_count() == 1)
    # when
    rotated, new_secret = subscription_rotate_secret(subscription)
    receiver.secrets.append(new_secret)
    order_event(order_id, 1)
    pump_until(lambda: delivered_count() == 2)
    # then: two signatures, each verifying with its own secret
    during = receiver.received[1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert during.verified_with == [old_secret, new_secret]
    assert rotated.previous_secret_expires_at is not None
    assert rotated.previous_secret_expires_at - timezone.now() > timedelta(hours=23)
    # when the overlap is over
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        previous_secret_expires_at=timezone.now() - timedelta(seconds=1)
    )
    order_event(order_id, 2)
    pump_until(lambda: delivered_count() == 3)
    after = receiver.received[2]
    assert after.verified_with == [new_secret]
    assert len(after.headers["webhook-signature"].split(" ")) == 1


def test_the_secret_is_stored_encrypted(receiver: Receiver) -> None:
    subscribe(receiver)
    secret = receiver.secrets[0]
    stored = WebhookSubscription.objects.values_list("secret_encrypted", flat=True).get()
    assert secret not in stored
    assert secret.removeprefix("whsec_") not in stored


def test_old_delivered_rows_are_purged_and_dead_letters_kept(receiver: Receiver) -> None:
    # given: one old delivered row, one recent, one old dead letter
    subscribe(receiver)
    for _ in range(3):
        new_order()
    pump_until(lambda: delivered_count() == 3)
    old, recent, dead = WebhookDelivery.objects.order_by("id")
    long_ago = timezone.now() - timedelta(days=40)
    WebhookDelivery.objects.filter(pk=old.pk).update(delivered_at=long_ago)
    WebhookDelivery.objects.filter(pk=dead.pk).update(
        status=DeliveryStatus.FAILED, delivered_at=long_ago, created_at=long_ago
    )
    # when
    purged = purge_delivered(timedelta(days=30))
    # then
    assert purged == 1
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {recent.pk, dead.pk}


def test_a_pump_started_while_another_runs_in_the_process_does_nothing(
    receiver: Receiver,
) -> None:
    # given: an event waiting, and a pump already running in this process
    subscribe(receiver)
    new_order()
    tasks._pumping.acquire()
    try:
        # when: beat's next pump arrives meanwhile
        overlapping = tasks.pump_webhooks()
    finally:
        tasks._pumping.release()
    # then: it leaves the work to the running one; the next pump does it
    assert overlapping == {"events": 0, "sent": 0}
    assert receiver.received == []
    pump_until(lambda: delivered_count() == 1)
