"""Fixtures of the webhook tests: a real receiver, subscriptions pointing at it, order
events appended to the real event store, and the pump run in the test process."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from eventstore.store import RecordedEvent, append
from integrations.webhooks.models import WebhookSubscription
from integrations.webhooks.services import subscription_create
from integrations.webhooks.tasks import pump
from orders.domain import OrderCreated, ShippingAddress, ShippingAddressSet

from .receiver import Receiver

AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _webhook_settings(settings: SettingsWrapper) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_RETRY_SCHEDULE_SECONDS = "0.05,0.05,0.05"
    settings.WEBHOOK_DISPATCH_CONCURRENCY = 1
    settings.WEBHOOK_DISPATCH_TIME_BUDGET = 5.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def subscribe(receiver: Receiver, event_types: list[str] | None = None) -> WebhookSubscription:
    """A subscription to `receiver`, whose secret the receiver verifies with."""
    subscription, secret = subscription_create(url=receiver.url, event_types=event_types or ["*"])
    receiver.secrets.append(secret)
    return subscription


def new_order(customer_id: uuid.UUID | None = None) -> uuid.UUID:
    order_id = uuid.uuid4()
    append(
        order_id,
        "Order",
        0,
        [OrderCreated(customer_id=customer_id or uuid.uuid4(), currency="EUR", occurred_at=AT)],
    )
    return order_id


def order_event(order_id: uuid.UUID, version: int) -> RecordedEvent:
    """Append one more event (a ShippingAddressSet) to the order at `version`, its current
    version; the address's line1 names the new version."""
    address = ShippingAddress(
        name="Ada", line1=f"v{version + 1}", city="Berlin", postal_code="10115", country="DE"
    )
    return append(
        order_id, "Order", version, [ShippingAddressSet(address=address, occurred_at=AT)]
    )[0]


def pump_until(done: Callable[[], bool], *, timeout: float = 30.0) -> None:
    """Run the pump (consumer then dispatcher) until `done()` holds. The consumer reads only
    events below every running transaction on the server, which other sessions on a shared
    server can hold back for a moment."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pump()
        if done():
            return
        time.sleep(0.05)
    raise AssertionError(f"the pump did not get there in {timeout} s")
