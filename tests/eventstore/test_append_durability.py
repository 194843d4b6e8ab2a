"""An append always commits durably, even inside work that turned synchronous_commit off (a
saga step): its events are visible to the feed and webhooks the moment they commit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.db import connection, transaction

from eventstore.store import append
from tests.eventstore.bank import BankAccountOpened, BankMoneyDeposited

# Real transactions: SET LOCAL lasts until the transaction ends, which the test must see.
pytestmark = pytest.mark.django_db(transaction=True)


def commit_mode() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])  # type: ignore[index]


@pytest.fixture(autouse=True)
def _default_commit_mode() -> Iterator[None]:
    yield
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO DEFAULT")  # the connection outlives the test


@pytest.mark.parametrize(
    ("session", "appending", "after"),
    [
        ("off", "on", "off"),
        ("local", "on", "local"),
        ("remote_write", "remote_write", "remote_write"),
    ],
)
def test_the_appending_transaction_commits_at_least_synchronously(
    session: str, appending: str, after: str
) -> None:
    # given: a session whose own commits do not wait for the disk (or wait for more)
    with connection.cursor() as cursor:
        cursor.execute(f"SET synchronous_commit TO {session}")
    account_id = uuid.uuid4()
    # when: events are appended (one row, and several)
    with transaction.atomic():
        append(account_id, "BankAccount", 0, [BankAccountOpened(owner="ann", currency="EUR")])
        append(
            account_id,
            "BankAccount",
            1,
            [BankMoneyDeposited(amount=Decimal(n)) for n in range(1, 13)],
        )
        # then: that transaction commits with at least "on"
        assert commit_mode() == appending
    # and the session keeps its own setting afterwards
    assert commit_mode() == after
