from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections

from eventstore.projections import register_projection, unregister_projection
from eventstore.repository import Repository
from tests.eventstore.bank import (
    AsyncBalanceProjection,
    BalanceProjection,
    BankAccount,
    create_balance_table,
    drop_balance_table,
)


@pytest.fixture
def accounts() -> Repository[BankAccount]:
    return Repository(BankAccount)


@pytest.fixture
def balances(db: None) -> Iterator[BalanceProjection]:
    """The inline read model `test_balances`, registered for the test only."""
    create_balance_table(BalanceProjection.table)
    register_projection(BalanceProjection)
    yield BalanceProjection()
    unregister_projection(BalanceProjection.name)
    drop_balance_table(BalanceProjection.table)


@pytest.fixture
def async_balances(db: None) -> Iterator[AsyncBalanceProjection]:
    create_balance_table(AsyncBalanceProjection.table)
    register_projection(AsyncBalanceProjection)
    yield AsyncBalanceProjection()
    unregister_projection(AsyncBalanceProjection.name)
    drop_balance_table(AsyncBalanceProjection.table)


@pytest.fixture
def open_account(accounts: Repository[BankAccount]) -> Callable[..., uuid.UUID]:
    """Open an account and make the given deposits, each saved on its own."""

    def open_(owner: str = "ann", deposits: tuple[str, ...] = ()) -> uuid.UUID:
        account = BankAccount.open(uuid.uuid4(), owner)
        accounts.save(account)
        for amount in deposits:
            account.deposit(Decimal(amount))
            accounts.save(account)
        return account.id

    return open_


class InThread:
    """Run a function in a thread with its own database connection (closed afterwards)."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self._fn = fn
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.result = self._fn()
        except BaseException as exc:  # reported to the test by join()
            self.error = exc
        finally:
            connections.close_all()

    def join(self, timeout: float = 10) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "thread did not finish"
        return self.result


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


def wait_until_blocked(pid: int, timeout: float = 10) -> None:
    """Wait until backend `pid` waits for a lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
            row = cursor.fetchone()
        if row and row[0] == "Lock":
            return
        time.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited for a lock")


def run_projection_until(name: str, expected: int, timeout: float = 10) -> int:
    """Run the catch-up runner until it has handled `expected` events. It only reads events
    of finished transactions, and other sessions on a shared server (other test runs) can
    hold that horizon back for a moment."""
    from eventstore.projections import run_projection

    handled = 0
    deadline = time.monotonic() + timeout
    while handled < expected and time.monotonic() < deadline:
        handled += run_projection(name)
        if handled < expected:
            time.sleep(0.02)
    return handled


def wait_until_readable(timeout: float = 10) -> None:
    """Wait until `read_all` can deliver every committed event (see run_projection_until)."""
    from eventstore.store import read_all

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM events")
            row = cursor.fetchone()
        if row is not None and len(read_all(limit=row[0] + 1)) == row[0]:
            return
        time.sleep(0.02)
    raise AssertionError("committed events stayed unreadable")
