"""A small aggregate and read models that exercise the event store in tests. Test-only:
the read-model tables are created by fixtures (conftest.py), not by migrations."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connection

from eventstore.aggregate import Aggregate
from eventstore.events import DomainEvent, upcaster
from eventstore.projections import Projection, Row
from eventstore.store import RecordedEvent


@dataclass(frozen=True)
class BankAccountOpened(DomainEvent):
    schema_version = 2
    owner: str
    currency: str


@upcaster("BankAccountOpened", 1)
def _opened_v1_had_no_currency(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "currency": "EUR"}


@dataclass(frozen=True)
class BankMoneyDeposited(DomainEvent):
    amount: Decimal


@dataclass(frozen=True)
class BankMoneyWithdrawn(DomainEvent):
    amount: Decimal


class InsufficientFunds(Exception):
    pass


class BankAccount(Aggregate):
    aggregate_type = "BankAccount"

    owner: str
    currency: str
    balance: Decimal
    deposits: int

    @classmethod
    def open(cls, account_id: UUID, owner: str, currency: str = "EUR") -> BankAccount:
        account = cls.blank(account_id)
        account.record(BankAccountOpened(owner=owner, currency=currency))
        return account

    def deposit(self, amount: Decimal) -> None:
        self.record(BankMoneyDeposited(amount=amount))

    def withdraw(self, amount: Decimal) -> None:
        if amount > self.balance:
            raise InsufficientFunds(f"balance {self.balance} < {amount}")
        self.record(BankMoneyWithdrawn(amount=amount))

    def apply(self, event: DomainEvent) -> None:
        match event:
            case BankAccountOpened(owner=owner, currency=currency):
                self.owner, self.currency = owner, currency
                self.balance, self.deposits = Decimal("0.00"), 0
            case BankMoneyDeposited(amount=amount):
                self.balance += amount
                self.deposits += 1
            case BankMoneyWithdrawn(amount=amount):
                self.balance -= amount

    def snapshot_state(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "currency": self.currency,
            "balance": str(self.balance),
            "deposits": self.deposits,
        }

    def restore_snapshot_state(self, state: dict[str, Any]) -> None:
        self.owner = state["owner"]
        self.currency = state["currency"]
        self.balance = Decimal(state["balance"])
        self.deposits = state["deposits"]


BANK_EVENT_TYPES = frozenset({"BankAccountOpened", "BankMoneyDeposited", "BankMoneyWithdrawn"})


class BalanceProjection(Projection):
    """One row per account: owner, balance, the list of movements (jsonb)."""

    name = "test_balances"
    table = "test_balances"
    event_types = BANK_EVENT_TYPES

    def apply(self, row: Row | None, event: RecordedEvent) -> Row | None:
        match event.event:
            case BankAccountOpened(owner=owner, currency=currency):
                return {
                    "id": event.aggregate_id,
                    "owner": owner,
                    "currency": currency,
                    "balance": Decimal("0.00"),
                    "movements": [],
                    "opened_at": event.created_at,
                }
            case BankMoneyDeposited(amount=amount) if row is not None:
                row["balance"] += amount
                row["movements"].append(str(amount))
                return row
            case BankMoneyWithdrawn(amount=amount) if row is not None:
                row["balance"] -= amount
                row["movements"].append(str(-amount))
                return row
        return None


class AsyncBalanceProjection(BalanceProjection):
    name = "test_balances_async"
    table = "test_balances_async"
    inline = False


def create_balance_table(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {table} (
                id uuid PRIMARY KEY,
                owner text NOT NULL,
                currency char(3) NOT NULL,
                balance numeric(12, 2) NOT NULL,
                movements jsonb NOT NULL DEFAULT '[]',
                opened_at timestamptz NOT NULL,
                version integer NOT NULL,
                opened_by uuid NULL REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED,
                CONSTRAINT {table}_balance_sane CHECK (balance > -1000000)
            );
            CREATE INDEX IF NOT EXISTS {table}_owner_idx ON {table} (owner);
            """
        )


def drop_balance_table(table: str) -> None:
    with connection.cursor() as cursor:
        # Deferred foreign-key checks still pending in the test's transaction block a DROP.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"DROP TABLE IF EXISTS {table}, {table}__rebuild")
