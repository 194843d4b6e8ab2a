"""The event log: append with optimistic concurrency, load, time travel, upcasting, and the
append-only guarantee."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from commerce_project.api.errors import http_status
from eventstore.exceptions import ConcurrencyError
from eventstore.metadata import metadata_context
from eventstore.store import append, load, read_all, stream_version
from tests.eventstore.bank import BankAccountOpened, BankMoneyDeposited
from tests.eventstore.conftest import (
    digits_apart_transaction_id,
    insert_event_as_transaction,
    wait_until_readable,
)

pytestmark = pytest.mark.django_db


def test_append_numbers_events_after_the_expected_version_in_one_batch() -> None:
    # given
    account_id = uuid.uuid4()
    append(account_id, "BankAccount", 0, [BankAccountOpened(owner="ann", currency="EUR")])
    # when
    recorded = append(
        account_id,
        "BankAccount",
        1,
        [BankMoneyDeposited(amount=Decimal("1.10")), BankMoneyDeposited(amount=Decimal("2.20"))],
    )
    # then
    assert [e.version for e in recorded] == [2, 3]
    assert recorded[0].created_at == recorded[1].created_at  # one clock reading per batch
    assert recorded[0].global_position < recorded[1].global_position
    assert stream_version(account_id) == 3
    loaded = load(account_id)
    assert [e.event for e in loaded] == [
        BankAccountOpened(owner="ann", currency="EUR"),
        BankMoneyDeposited(amount=Decimal("1.10")),
        BankMoneyDeposited(amount=Decimal("2.20")),
    ]
    assert [e.id for e in loaded[1:]] == [e.id for e in recorded]


@pytest.mark.parametrize("expected_version", [0, 2])
def test_append_at_a_stale_or_future_version_raises_concurrency_error(
    expected_version: int,
) -> None:
    # given a stream at version 1
    account_id = uuid.uuid4()
    append(account_id, "BankAccount", 0, [BankAccountOpened(owner="ann", currency="EUR")])
    # when / then
    with pytest.raises(ConcurrencyError) as caught:
        append(account_id, "BankAccount", expected_version, [BankMoneyDeposited(amount=Decimal(1))])
    assert http_status(caught.value) == 409  # a conflict at the HTTP edge
    assert caught.value.extra["expected_version"] == expected_version
    assert stream_version(account_id) == 1


def test_a_conflict_inside_an_outer_transaction_leaves_it_usable() -> None:
    # given
    account_id = uuid.uuid4()
    append(account_id, "BankAccount", 0, [BankAccountOpened(owner="ann", currency="EUR")])
    # when
    with transaction.atomic():
        with pytest.raises(ConcurrencyError):
            append(account_id, "BankAccount", 0, [BankMoneyDeposited(amount=Decimal(1))])
        # then the outer transaction goes on
        append(account_id, "BankAccount", 1, [BankMoneyDeposited(amount=Decimal(5))])
    assert stream_version(account_id) == 2


def test_metadata_merges_context_request_and_call() -> None:
    # given
    from commerce_project.context import current_request_id

    token = current_request_id.set("req-123")
    try:
        with metadata_context(actor="user-1"), metadata_context(causation_id="cmd-9"):
            # when
            recorded = append(
                uuid.uuid4(),
                "BankAccount",
                0,
                [BankAccountOpened(owner="ann", currency="EUR")],
                metadata={"actor": "user-2", "reason": "test"},
            )
    finally:
        current_request_id.reset(token)
    # then
    stored = load(recorded[0].aggregate_id)[0].metadata
    assert stored == {
        "correlation_id": "req-123",
        "causation_id": "cmd-9",
        "actor": "user-2",
        "reason": "test",
        "schema_version": 2,
    }


def test_load_cuts_by_version_range_and_time() -> None:
    # given three events in three transactions
    account_id = uuid.uuid4()
    append(account_id, "BankAccount", 0, [BankAccountOpened(owner="ann", currency="EUR")])
    second = append(account_id, "BankAccount", 1, [BankMoneyDeposited(amount=Decimal(1))])[0]
    append(account_id, "BankAccount", 2, [BankMoneyDeposited(amount=Decimal(2))])
    # when / then
    assert [e.version for e in load(account_id, from_version=2)] == [2, 3]
    assert [e.version for e in load(account_id, to_version=2)] == [1, 2]
    assert [e.version for e in load(account_id, as_of=second.created_at)] == [1, 2]


def test_an_old_payload_is_upcast_on_load() -> None:
    # given a version-1 BankAccountOpened (no currency) stored long ago
    account_id = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO events (id, aggregate_id, aggregate_type, event_type, event_data, "
            "version, metadata) VALUES (%s, %s, 'BankAccount', 'BankAccountOpened', %s, 1, %s)",
            [
                uuid.uuid4(),
                account_id,
                json.dumps({"owner": "old"}),
                json.dumps({"schema_version": 1}),
            ],
        )
    # when
    (recorded,) = load(account_id)
    # then
    assert recorded.event == BankAccountOpened(owner="old", currency="EUR")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET event_type = 'Tampered' WHERE aggregate_id = %s",
        "DELETE FROM events WHERE aggregate_id = %s",
    ],
)
def test_events_cannot_be_updated_or_deleted(statement: str) -> None:
    # given
    account_id = uuid.uuid4()
    append(account_id, "BankAccount", 0, [BankAccountOpened(owner="ann", currency="EUR")])
    # when / then
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [account_id])
    assert load(account_id)[0].event_type == "BankAccountOpened"


def test_read_all_sees_nothing_of_its_own_uncommitted_transaction() -> None:
    # given (this test runs inside one transaction, so its events are not final yet)
    append(uuid.uuid4(), "BankAccount", 0, [BankAccountOpened(owner="ann", currency="EUR")])
    # when / then
    assert read_all() == []


@pytest.mark.django_db(transaction=True)
def test_read_all_orders_transaction_ids_as_numbers_across_digit_counts() -> None:
    # given events of transactions whose ids have different digit counts (e.g. 9999, 10325):
    # as numbers the shorter comes first, as text it comes last
    shorter = digits_apart_transaction_id()
    early, late = uuid.uuid4(), uuid.uuid4()
    opened = BankAccountOpened(owner="ann", currency="EUR")
    append(late, "BankAccount", 0, [opened])
    deposited = BankMoneyDeposited(amount=Decimal("1.00"))
    insert_event_as_transaction(shorter - 1, early, "BankAccount", 1, opened)
    insert_event_as_transaction(shorter, early, "BankAccount", 2, deposited)
    wait_until_readable()
    ours = {early, late}
    # when: all events at once, and one at a time from each checkpoint
    at_once = [e for e in read_all(limit=100_000) if e.aggregate_id in ours]
    one_by_one = []
    position = (0, 0)
    while batch := read_all(position, limit=1):
        position = batch[0].position
        if batch[0].aggregate_id in ours:
            one_by_one.append(batch[0])
    # then: numeric order, and paging from checkpoints skips nothing
    for read in (at_once, one_by_one):
        assert [(e.aggregate_id, e.version) for e in read] == [(early, 1), (early, 2), (late, 1)]
        assert [e.transaction_id for e in read][:2] == [shorter - 1, shorter]
        assert len(str(read[2].transaction_id)) > len(str(shorter))
