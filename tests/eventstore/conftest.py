from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from django.db import connection, connections, transaction

from eventstore.events import DomainEvent, serialize_event
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


@contextmanager
def xmin_held_back() -> Iterator[int]:
    """Hold the cluster's xmin horizon back, as another session's open transaction does: a
    second connection (to the `postgres` database: the horizon is cluster-wide) opens a
    transaction that has taken an id, until the block ends. `read_all` delivers nothing of
    a transaction from then on while the block runs. Yields the held transaction's id."""
    params = connection.get_connection_params()
    params["dbname"] = "postgres"
    # Straight through psycopg: with the connection pool, Django's get_new_connection()
    # hands out a pooled connection to the test database whatever the parameters say.
    holder = psycopg.connect(**params)
    try:
        row = holder.execute("SELECT pg_current_xact_id()::text").fetchone()
        assert row is not None
        yield int(row[0])
    finally:
        holder.rollback()
        holder.close()


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


def append_under_an_older_transaction(*, first: Callable[[], Any], then: Callable[[], Any]) -> None:
    """Reproduce a stream that `read_all` delivers out of version order, for real.

    A transaction takes its id early (as the idempotency claim's `SELECT … FOR UPDATE`
    does) and waits; meanwhile `first` runs on this connection and commits the stream's next
    version; then the waiting transaction runs `then`, which loads the stream (seeing what
    `first` wrote) and appends the version after it under its older transaction id. Ordered by
    (transaction_id, global_position), `then`'s events come before `first`'s."""
    took_id = threading.Event()
    go = threading.Event()

    def older_transaction() -> None:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_current_xact_id()")
            took_id.set()
            assert go.wait(10)
            then()

    older = InThread(older_transaction)
    assert took_id.wait(10)
    first()
    go.set()
    older.join()
    if older.error is not None:
        raise older.error


def stream_versions_in_read_order(aggregate_id: uuid.UUID) -> list[int]:
    """The versions of one stream in the order `read_all` delivers them."""
    from eventstore.store import read_all

    wait_until_readable()
    return [e.version for e in read_all(limit=100_000) if e.aggregate_id == aggregate_id]


def digits_apart_transaction_id() -> int:
    """A transaction id with one digit fewer than every real one on this server (e.g. 9999
    when they are at 10325): numerically before them, but after them as text."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text")
        row = cursor.fetchone()
    assert row is not None
    return int(10 ** (len(row[0]) - 1) - 1)


def insert_event_as_transaction(
    transaction_id: int,
    aggregate_id: uuid.UUID,
    aggregate_type: str,
    version: int,
    event: DomainEvent,
) -> None:
    """Write one event as if transaction `transaction_id` had appended it (events get their
    id from `pg_current_xact_id()`; this picks it, to control how ids compare)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO events (id, aggregate_id, aggregate_type, event_type, event_data, "
            "metadata, version, transaction_id) "
            "VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s::text::xid8)",
            [
                uuid.uuid4(),
                aggregate_id,
                aggregate_type,
                event.event_type,
                json.dumps(serialize_event(event)),
                json.dumps({"schema_version": event.schema_version}),
                version,
                str(transaction_id),
            ],
        )
