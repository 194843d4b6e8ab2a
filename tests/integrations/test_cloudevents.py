"""The CloudEvents envelope of one stored event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from eventstore.events import DomainEvent
from eventstore.store import RecordedEvent
from integrations.cloudevents import (
    cloudevent_type,
    event_type_of,
    is_published,
    published_event_types,
    to_cloudevent,
)
from orders.domain import OrderConfirmed, OrderPaid


def _recorded(
    event: DomainEvent, *, aggregate_type: str = "Order", created_at: datetime | None = None
) -> RecordedEvent:
    return RecordedEvent(
        id=uuid.UUID("5f1d7f8e-0000-4000-8000-00000000000a"),
        aggregate_id=uuid.UUID("0d6f0000-0000-4000-8000-0000000000b0"),
        aggregate_type=aggregate_type,
        event_type=event.event_type,
        version=7,
        event=event,
        metadata={},
        created_at=created_at or datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC),
        global_position=42,
        transaction_id=1234,
    )


def _paid() -> OrderPaid:
    return OrderPaid(
        payment_id=uuid.UUID("00000000-0000-4000-8000-0000000000cc"),
        amount=Decimal("12.50"),
        occurred_at=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
    )


def test_the_envelope_has_every_cloudevents_attribute_and_our_extensions() -> None:
    # given
    event = _recorded(_paid())
    # when
    envelope = to_cloudevent(event, position="Y3Vyc29y")
    # then
    assert envelope == {
        "specversion": "1.0",
        "id": "5f1d7f8e-0000-4000-8000-00000000000a",
        "source": "/commerce/orders",
        "type": "commerce.orders.OrderPaid",
        "subject": "0d6f0000-0000-4000-8000-0000000000b0",
        "time": "2026-03-04T05:06:07.123456Z",
        "datacontenttype": "application/json",
        "sequence": 7,
        "position": "Y3Vyc29y",
        "data": {
            "payment_id": "00000000-0000-4000-8000-0000000000cc",
            "amount": "12.50",
            "occurred_at": "2026-03-04T05:06:07+00:00",
        },
    }


def test_time_is_utc_with_a_z_whatever_zone_the_row_came_in() -> None:
    # given a timestamp read in another zone
    local = datetime(2026, 3, 4, 7, 6, 7, tzinfo=timezone(timedelta(hours=2)))
    # when
    envelope = to_cloudevent(_recorded(_paid(), created_at=local), position="p")
    # then
    assert envelope["time"] == "2026-03-04T05:06:07Z"


def test_the_payment_token_never_leaves_in_the_envelope() -> None:
    # given
    confirmed = OrderConfirmed(
        payment_token="tok_secret_4242",
        total_amount=Decimal("10.00"),
        currency="EUR",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    # when
    envelope = to_cloudevent(_recorded(confirmed), position="p")
    # then
    assert envelope["type"] == "commerce.orders.OrderConfirmed"
    assert "tok_secret_4242" not in repr(envelope)
    assert envelope["data"]["payment_token"] == "[redacted]"


def test_staff_notes_and_other_aggregates_are_not_published() -> None:
    # given
    from tests.eventstore.bank import BankAccountOpened

    # when / then
    assert is_published(_recorded(_paid()))
    assert not is_published(
        _recorded(BankAccountOpened(owner="ann", currency="EUR"), aggregate_type="BankAccount")
    )
    assert "OrderNoteAdded" not in published_event_types()
    assert {"OrderCreated", "OrderPaid", "OrderConfirmed"} <= published_event_types()


@pytest.mark.parametrize(
    ("cloudevents_type", "expected"),
    [
        ("commerce.orders.OrderPaid", "OrderPaid"),
        ("commerce.orders.", None),
        ("OrderPaid", None),
        ("commerce.carts.CartCreated", None),
    ],
)
def test_cloudevents_types_map_back_to_store_types(
    cloudevents_type: str, expected: str | None
) -> None:
    assert event_type_of(cloudevents_type) == expected
    if expected is not None:
        assert cloudevent_type(expected) == cloudevents_type
