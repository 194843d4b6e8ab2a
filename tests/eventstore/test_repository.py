"""Repository: load/save with the expected version, snapshots, time travel."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection
from pytest_django.fixtures import Settings

from eventstore.exceptions import AggregateNotFound, ConcurrencyError
from eventstore.repository import Repository
from eventstore.snapshots import snapshot_load
from eventstore.store import load
from tests.eventstore.bank import BankAccount

pytestmark = pytest.mark.django_db


def test_save_appends_pending_events_at_the_saved_version(
    accounts: Repository[BankAccount],
) -> None:
    # given
    account = BankAccount.open(uuid.uuid4(), "ann")
    account.deposit(Decimal("10.00"))
    # when
    recorded = accounts.save(account)
    # then
    assert [e.version for e in recorded] == [1, 2]
    assert account.pending_events == []
    assert account.saved_version == 2
    loaded = accounts.get(account.id)
    assert (loaded.owner, loaded.balance, loaded.version) == ("ann", Decimal("10.00"), 2)


def test_saving_a_stale_copy_raises_concurrency_error(
    accounts: Repository[BankAccount], open_account: Callable[..., uuid.UUID]
) -> None:
    # given two copies loaded at the same version
    account_id = open_account()
    mine, theirs = accounts.get(account_id), accounts.get(account_id)
    theirs.deposit(Decimal(1))
    accounts.save(theirs)
    # when / then
    mine.deposit(Decimal(2))
    with pytest.raises(ConcurrencyError):
        accounts.save(mine)
    assert accounts.get(account_id).balance == Decimal(1)


def test_get_of_an_unknown_or_foreign_stream_is_not_found(
    accounts: Repository[BankAccount],
) -> None:
    # given a stream of another aggregate type
    from eventstore.store import append
    from tests.eventstore.bank import BankAccountOpened

    foreign = uuid.uuid4()
    append(foreign, "SomethingElse", 0, [BankAccountOpened(owner="x", currency="EUR")])
    # when / then
    with pytest.raises(AggregateNotFound):
        accounts.get(uuid.uuid4())
    with pytest.raises(AggregateNotFound):
        accounts.get(foreign)
    assert not accounts.exists(foreign)


def test_time_travel_by_version_and_by_time(
    accounts: Repository[BankAccount], open_account: Callable[..., uuid.UUID]
) -> None:
    # given deposits of 1, 2 and 4, each in its own append
    account_id = open_account(deposits=("1", "2", "4"))
    second_deposit_at = load(account_id)[2].created_at
    # when / then
    assert accounts.get(account_id, version=2).balance == Decimal(1)
    assert accounts.get(account_id, version=3).version == 3
    assert accounts.get(account_id, as_of=second_deposit_at).balance == Decimal(3)
    assert accounts.get(account_id).balance == Decimal(7)
    with pytest.raises(AggregateNotFound):
        accounts.get(account_id, version=9)
    with pytest.raises(AggregateNotFound):
        accounts.get(account_id, as_of=load(account_id)[0].created_at.replace(year=2000))


def test_snapshot_every_n_events_and_get_equals_full_replay(
    accounts: Repository[BankAccount],
    open_account: Callable[..., uuid.UUID],
    settings: Settings,
) -> None:
    # given snapshots every 3 events and a stream of 8
    settings.EVENTSTORE_SNAPSHOT_EVERY = 3
    account_id = open_account(deposits=("1.10", "2.20", "3.30", "4.40", "5.50", "6.60", "7.70"))
    # when
    from_snapshot = accounts.get(account_id)
    replayed = accounts.get(account_id, version=8)
    # then
    snapshot = snapshot_load(account_id)
    assert snapshot is not None
    assert snapshot.version == 6
    assert from_snapshot.snapshot_state() == replayed.snapshot_state()
    assert from_snapshot.version == replayed.version == 8
    assert from_snapshot.balance == Decimal("30.80")


def test_get_starts_from_the_snapshot(
    accounts: Repository[BankAccount],
    open_account: Callable[..., uuid.UUID],
    settings: Settings,
) -> None:
    # given a snapshot whose state no replay could produce (tampered on purpose)
    settings.EVENTSTORE_SNAPSHOT_EVERY = 2
    account_id = open_account(deposits=("1", "1", "1", "1"))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE snapshots SET state = jsonb_set(state, '{balance}', '\"100\"') "
            "WHERE aggregate_id = %s",
            [account_id],
        )
    # when / then: the snapshot is used (v4), plus the one event after it
    assert accounts.get(account_id).balance == Decimal(101)
    assert accounts.get(account_id, version=4).balance == Decimal(3)


def test_a_snapshot_of_an_older_schema_is_ignored(
    accounts: Repository[BankAccount],
    open_account: Callable[..., uuid.UUID],
    settings: Settings,
) -> None:
    # given
    settings.EVENTSTORE_SNAPSHOT_EVERY = 2
    account_id = open_account(deposits=("1", "1"))
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE snapshots SET schema_version = 0, state = '{}' WHERE aggregate_id = %s",
            [account_id],
        )
    # when / then
    assert accounts.get(account_id).balance == Decimal(2)


def test_snapshots_off(
    accounts: Repository[BankAccount],
    open_account: Callable[..., uuid.UUID],
    settings: Settings,
) -> None:
    settings.EVENTSTORE_SNAPSHOT_EVERY = 0
    account_id = open_account(deposits=("1",) * 5)
    assert snapshot_load(account_id) is None
