"""Events serialize exactly and old payloads are upcast on load."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from eventstore.events import DomainEvent, deserialize_event, serialize_event, upcaster
from eventstore.exceptions import UnknownEventType, UnknownEventVersion


class Colour(enum.Enum):
    RED = "red"


@dataclass(frozen=True)
class LineForTest:
    sku: str
    price: Decimal


@dataclass(frozen=True)
class ThingHappenedForTest(DomainEvent):
    thing_id: UUID
    amount: Decimal
    at: datetime
    colour: Colour
    lines: tuple[LineForTest, ...]
    note: str | None = None


@dataclass(frozen=True)
class ThingRenamedForTest(DomainEvent):
    schema_version = 3
    full_name: str
    source: str


@upcaster("ThingRenamedForTest", 1)
def _split_name(data: dict[str, object]) -> dict[str, object]:
    return {"full_name": f"{data.pop('first')} {data.pop('last')}"}


@upcaster("ThingRenamedForTest", 2)
def _add_source(data: dict[str, object]) -> dict[str, object]:
    return {**data, "source": "legacy"}


def test_round_trip_keeps_exact_types() -> None:
    # given
    event = ThingHappenedForTest(
        thing_id=uuid4(),
        amount=Decimal("12.50"),
        at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        colour=Colour.RED,
        lines=(LineForTest(sku="A-1", price=Decimal("0.10")),),
    )
    # when
    data = serialize_event(event)
    restored = deserialize_event("ThingHappenedForTest", 1, data)
    # then
    assert restored == event
    assert data["amount"] == "12.50"  # stored as a string, never a float
    assert str(restored.amount) == "12.50"  # type: ignore[attr-defined]


def test_floats_and_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        serialize_event(
            ThingHappenedForTest(
                thing_id=uuid4(),
                amount=Decimal(1),
                at=datetime(2026, 1, 1),  # noqa: DTZ001
                colour=Colour.RED,
                lines=(),
            )
        )


def test_upcasters_chain_old_versions_to_current() -> None:
    # given a version-1 payload
    old = {"first": "Ada", "last": "Lovelace"}
    # when
    event = deserialize_event("ThingRenamedForTest", 1, old)
    # then
    assert event == ThingRenamedForTest(full_name="Ada Lovelace", source="legacy")


def test_unknown_type_is_named() -> None:
    with pytest.raises(UnknownEventType, match="NoSuchThing"):
        deserialize_event("NoSuchThing", 1, {})


def test_version_without_upcaster_is_named() -> None:
    with pytest.raises(UnknownEventVersion, match=r"ThingHappenedForTest.*version 7"):
        deserialize_event("ThingHappenedForTest", 7, {})
