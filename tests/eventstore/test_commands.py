"""The command bus: one transaction per command, bounded retry on conflict, metadata."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

import pytest
from django.db import transaction
from pytest_django.fixtures import Settings

from eventstore.commands import Command, dispatch, handles
from eventstore.exceptions import ConcurrencyError
from eventstore.repository import Repository
from eventstore.store import load
from tests.eventstore.bank import BankAccount
from tests.eventstore.conftest import InThread
from tests.sql import statements

accounts = Repository(BankAccount)


@dataclass(frozen=True)
class Deposit(Command):
    retry_on_conflict = True
    account_id: uuid.UUID
    amount: Decimal


@dataclass(frozen=True)
class DepositOnce(Command):
    account_id: uuid.UUID
    amount: Decimal


@dataclass(frozen=True)
class DepositTwice(Command):
    """Two saves in one command: the second fails, so the first must not stay."""

    account_id: uuid.UUID


class Interference:
    """Before the first save of a command, another connection deposits and commits."""

    times: ClassVar[int] = 0
    attempts: ClassVar[int] = 0


def _deposit(command: Deposit | DepositOnce) -> BankAccount:
    Interference.attempts += 1
    account = accounts.get(command.account_id)
    if Interference.times > 0:
        Interference.times -= 1
        competitor = InThread(lambda: _competing_deposit(command.account_id))
        competitor.join()
        assert competitor.error is None
    account.deposit(command.amount)
    accounts.save(account)
    return account


def _competing_deposit(account_id: uuid.UUID) -> None:
    other = accounts.get(account_id)
    other.deposit(Decimal("100"))
    accounts.save(other)


handles(Deposit)(_deposit)
handles(DepositOnce)(_deposit)


@handles(DepositTwice)
def _deposit_twice(command: DepositTwice) -> None:
    account = accounts.get(command.account_id)
    account.deposit(Decimal(1))
    accounts.save(account)
    stale = accounts.get(command.account_id, version=1)
    stale.deposit(Decimal(2))
    accounts.save(stale)


@pytest.fixture(autouse=True)
def _reset_interference(settings: Settings) -> None:
    Interference.times = 0
    Interference.attempts = 0
    settings.EVENTSTORE_COMMAND_RETRY_BACKOFF = 0.001


@pytest.mark.django_db(transaction=True)
def test_a_retryable_command_is_retried_after_losing_a_race(
    open_account: Callable[..., uuid.UUID],
) -> None:
    # given a competitor that deposits between our load and our save, once
    account_id = open_account()
    Interference.times = 1
    # when
    account = dispatch(Deposit(account_id=account_id, amount=Decimal(5)))
    # then the handler ran again on the new state, and both deposits count
    assert Interference.attempts == 2
    assert account.balance == Decimal(105)
    assert accounts.get(account_id).balance == Decimal(105)


@pytest.mark.django_db(transaction=True)
def test_retries_are_bounded_then_the_conflict_surfaces(
    open_account: Callable[..., uuid.UUID], settings: Settings
) -> None:
    # given a competitor that always wins
    settings.EVENTSTORE_COMMAND_RETRIES = 2
    account_id = open_account()
    Interference.times = 99
    # when / then
    with pytest.raises(ConcurrencyError):
        dispatch(Deposit(account_id=account_id, amount=Decimal(5)))
    assert Interference.attempts == 3
    assert accounts.get(account_id).balance == Decimal(300)


@pytest.mark.django_db(transaction=True)
def test_a_command_not_marked_retryable_fails_on_the_first_conflict(
    open_account: Callable[..., uuid.UUID],
) -> None:
    account_id = open_account()
    Interference.times = 1
    with pytest.raises(ConcurrencyError):
        dispatch(DepositOnce(account_id=account_id, amount=Decimal(5)))
    assert Interference.attempts == 1


@pytest.mark.django_db
def test_a_command_is_one_transaction(open_account: Callable[..., uuid.UUID]) -> None:
    # given
    account_id = open_account()
    # when the command's second save conflicts
    with pytest.raises(ConcurrencyError):
        dispatch(DepositTwice(account_id=account_id))
    # then its first save is gone too
    assert [e.version for e in load(account_id)] == [1]


@pytest.mark.django_db
def test_a_commands_append_takes_no_savepoint_of_its_own(
    open_account: Callable[..., uuid.UUID],
) -> None:
    # given
    account_id = open_account()
    # when
    with statements() as sent:
        dispatch(DepositOnce(account_id=account_id, amount=Decimal(1)))
    # then: only the command's block is a savepoint (the test runs in a transaction)
    assert [sql for sql in sent if sql.startswith("SAVEPOINT")] == [sent[0]], sent
    assert [e.version for e in load(account_id)] == [1, 2]


@pytest.mark.django_db
def test_a_failed_command_leaves_its_callers_transaction_usable(
    open_account: Callable[..., uuid.UUID],
) -> None:
    # given
    account_id = open_account()
    with transaction.atomic():
        # when the command's second append conflicts (its first one had no savepoint)
        with pytest.raises(ConcurrencyError):
            dispatch(DepositTwice(account_id=account_id))
        # then the caller's transaction goes on, without anything of the command
        dispatch(DepositOnce(account_id=account_id, amount=Decimal(3)))
    assert [e.version for e in load(account_id)] == [1, 2]
    assert accounts.get(account_id).balance == Decimal(3)


@pytest.mark.django_db
def test_an_append_outside_the_bus_keeps_its_savepoint(
    open_account: Callable[..., uuid.UUID],
) -> None:
    # given
    account_id = open_account()
    account = accounts.get(account_id)
    account.deposit(Decimal(1))
    # when
    with statements() as sent:
        accounts.save(account)
    # then
    assert [sql for sql in sent if sql.startswith("SAVEPOINT")] != [], sent


@pytest.mark.django_db
def test_dispatch_puts_actor_correlation_and_causation_on_every_event(
    open_account: Callable[..., uuid.UUID],
) -> None:
    # given
    account_id = open_account()
    # when
    dispatch(
        DepositOnce(account_id=account_id, amount=Decimal(1)),
        actor="user-7",
        correlation_id="saga-1",
        causation_id="event-3",
    )
    dispatch(DepositOnce(account_id=account_id, amount=Decimal(1)), actor="user-7")
    # then
    first, second = (e.metadata for e in load(account_id)[1:])
    assert first["actor"] == second["actor"] == "user-7"
    assert (first["correlation_id"], first["causation_id"]) == ("saga-1", "event-3")
    assert first["command"] == "DepositOnce"
    # without ids the command's own id is both (no request is running)
    assert second["correlation_id"] == second["causation_id"] == second["command_id"]


@pytest.mark.django_db
def test_the_request_id_is_the_default_correlation_id(
    open_account: Callable[..., uuid.UUID],
) -> None:
    from commerce_project.context import current_request_id

    account_id = open_account()
    token = current_request_id.set("req-42")
    try:
        dispatch(DepositOnce(account_id=account_id, amount=Decimal(1)))
    finally:
        current_request_id.reset(token)
    assert load(account_id)[1].metadata["correlation_id"] == "req-42"


def test_dispatching_an_unregistered_command_names_it() -> None:
    @dataclass(frozen=True)
    class Unhandled(Command):
        pass

    with pytest.raises(LookupError, match="Unhandled"):
        dispatch(Unhandled())
