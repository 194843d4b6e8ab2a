"""rebuild_projections: the shadow build equals the inline result, the swap is atomic (a
reader never sees an empty or partial table), and an interrupted rebuild resumes."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from eventstore.projections import checkpoint_get, get_projection, projection_lag, run_projection
from eventstore.rebuild import RebuildStart, rebuild_projection
from eventstore.repository import Repository
from tests.eventstore.bank import AsyncBalanceProjection, BalanceProjection, BankAccount
from tests.eventstore.conftest import (
    InThread,
    run_projection_until,
    wait_until_readable,
    xmin_held_back,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _table_rows(table: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} ORDER BY id")
        return cursor.fetchall()


def _index_and_constraint_names(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass "
            "UNION SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass",
            [table, table],
        )
        return {r[0] for r in cursor.fetchall()}


def _accounts(open_account: Callable[..., uuid.UUID], count: int) -> list[uuid.UUID]:
    return [open_account(f"owner{n}", deposits=("1.00", f"{n}.25")) for n in range(count)]


def test_rebuild_reproduces_the_inline_read_model(
    balances: BalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    # given a read model written inline, then damaged
    _accounts(open_account, 6)
    inline_rows = _table_rows("test_balances")
    names_before = _index_and_constraint_names("test_balances")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE test_balances SET balance = 0")
        cursor.execute("DELETE FROM test_balances WHERE owner = 'owner0'")
    # when
    result = rebuild_projection("test_balances", batch_size=4)
    # then
    assert _table_rows("test_balances") == inline_rows
    assert (result.events, result.rows, result.resumed) == (18, 6, False)
    assert _index_and_constraint_names("test_balances") == names_before
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT convalidated, condeferred FROM pg_constraint "
            "WHERE conrelid = 'test_balances'::regclass AND contype = 'f'"
        )
        assert cursor.fetchall() == [(True, True)]  # the foreign key is back, validated
    assert checkpoint_get("test_balances").events_processed == 18
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('test_balances__rebuild')")
        assert cursor.fetchone() == (None,)
        cursor.execute("SELECT count(*) FROM projection_rebuilds")
        assert cursor.fetchone() == (0,)


def test_readers_see_the_old_or_the_new_table_never_an_empty_or_partial_one(
    balances: BalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    # given 8 accounts and a read model whose balances are wrong (so old != new)
    _accounts(open_account, 8)
    with connection.cursor() as cursor:
        cursor.execute("SELECT sum(balance) FROM test_balances")
        row = cursor.fetchone()
        assert row is not None
        correct_total = row[0]
        cursor.execute("UPDATE test_balances SET balance = balance + 1")
    wait_until_readable()
    stop = threading.Event()

    def read_continuously() -> list[tuple[int, Decimal]]:
        seen = []
        while not stop.is_set():
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*), sum(balance) FROM test_balances")
                count_and_sum = cursor.fetchone()
            assert count_and_sum is not None
            seen.append((int(count_and_sum[0]), count_and_sum[1]))
        return seen

    reader = InThread(read_continuously)
    # when rebuilding in small batches while the reader runs
    rebuild_projection("test_balances", batch_size=2, on_batch=lambda _: time.sleep(0.01))
    time.sleep(0.05)
    stop.set()
    seen = reader.join()
    # then
    assert reader.error is None
    assert set(seen) == {(8, correct_total + 8), (8, correct_total)}


def test_an_interrupted_rebuild_resumes_where_it_stopped(
    balances: BalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    # given a rebuild interrupted after two batches of 3 events
    _accounts(open_account, 5)
    inline_rows = _table_rows("test_balances")
    wait_until_readable()
    batches = 0

    def interrupt_after_two(_: int) -> None:
        nonlocal batches
        batches += 1
        if batches == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rebuild_projection("test_balances", batch_size=3, on_batch=interrupt_after_two)
    assert _table_rows("test_balances") == inline_rows  # the live table is untouched
    with connection.cursor() as cursor:
        cursor.execute("SELECT events_processed FROM projection_rebuilds")
        assert cursor.fetchone() == (6,)
    # and an account opened meanwhile
    late = open_account("late")
    starts: list[RebuildStart] = []
    # when
    result = rebuild_projection("test_balances", batch_size=3, on_start=starts.append)
    # then
    assert (starts[0].resumed, starts[0].done_events, starts[0].total_events) == (True, 6, 16)
    assert (result.resumed, result.events, result.events_this_run) == (True, 16, 10)
    assert _table_rows("test_balances") == _table_rows_after(inline_rows, late)


def _table_rows_after(rows: list[tuple[Any, ...]], late: uuid.UUID) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM test_balances WHERE id = %s", [late])
        late_row = cursor.fetchone()
    assert late_row is not None
    return sorted([*rows, late_row], key=lambda r: r[0])


def test_restart_discards_the_partial_shadow(
    balances: BalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    # given an interrupted rebuild
    _accounts(open_account, 3)
    wait_until_readable()

    def interrupt(_: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rebuild_projection("test_balances", batch_size=2, on_batch=interrupt)
    # when
    result = rebuild_projection("test_balances", batch_size=2, restart=True)
    # then
    assert (result.resumed, result.events_this_run, result.rows) == (False, 9, 3)


def test_events_appended_during_the_rebuild_reach_the_new_table(
    balances: BalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    # given
    _accounts(open_account, 3)
    wait_until_readable()
    appended: list[uuid.UUID] = []

    def append_between_batches(_: int) -> None:
        if len(appended) < 2:
            appended.append(open_account("during", deposits=("7.00",)))

    # when
    rebuild_projection("test_balances", batch_size=4, on_batch=append_between_batches)
    # then
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, balance FROM test_balances WHERE owner = 'during'")
        assert dict(cursor.fetchall()) == {a: Decimal("7.00") for a in appended}
        cursor.execute("SELECT count(*) FROM test_balances")
        assert cursor.fetchone() == (3 + len(appended),)
    assert appended


def test_rebuilding_an_async_projection_sets_its_checkpoint(
    async_balances: AsyncBalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    # given an async read model the runner has never filled
    ids = _accounts(open_account, 2)
    # when
    result = rebuild_projection("test_balances_async", batch_size=100)
    run_projection_until("test_balances_async", 6 - result.events, timeout=5)
    # then the rows are there and the runner has nothing left to do
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM test_balances_async ORDER BY id")
        assert [r[0] for r in cursor.fetchall()] == sorted(ids)
    assert checkpoint_get("test_balances_async").events_processed == 6


def test_an_async_rebuild_behind_a_held_back_xmin_leaves_the_rest_to_the_runner(
    async_balances: AsyncBalanceProjection,
    accounts: Repository[BankAccount],
    open_account: Callable[..., uuid.UUID],
) -> None:
    # given an account whose first two events every reader can see
    account_id = open_account("ann", deposits=("1.00",))
    wait_until_readable()
    projection = get_projection("test_balances_async")
    # and another session's transaction open before the next two (the horizon is the
    # cluster's: any session on the server holds it back like this)
    with xmin_held_back():
        account = accounts.get(account_id)
        account.deposit(Decimal("2.00"))
        accounts.save(account)
        account.deposit(Decimal("3.00"))
        accounts.save(account)
        # when
        result = rebuild_projection("test_balances_async", batch_size=100)
        # then the rebuild folded, and checkpointed, only what is below the horizon: the
        # checkpoint never passes an event the table has not seen
        assert result.events == 2
        assert _balances("test_balances_async") == {account_id: Decimal("1.00")}
        checkpoint = checkpoint_get("test_balances_async")
        assert (checkpoint.events_processed, projection_lag(projection, checkpoint)) == (2, 2)
        assert run_projection("test_balances_async") == 0  # the runner waits for the horizon
    # when the other session ends, the runner folds the rest
    assert run_projection_until("test_balances_async", 2, timeout=10) == 2
    assert _balances("test_balances_async") == {account_id: Decimal("6.00")}
    checkpoint = checkpoint_get("test_balances_async")
    assert (checkpoint.events_processed, projection_lag(projection, checkpoint)) == (4, 0)


def _balances(table: str) -> dict[uuid.UUID, Decimal]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, balance FROM {table}")
        return dict(cursor.fetchall())


@pytest.mark.django_db
def test_a_rebuild_inside_a_callers_transaction_sees_its_events(
    balances: BalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    # given events this (test) transaction appended and has not committed
    _accounts(open_account, 2)
    inline_rows = _table_rows("test_balances")
    # when
    result = rebuild_projection("test_balances")
    # then the final catch-up, past the xmin guard, folded them all
    assert (result.events, result.rows) == (6, 2)
    assert _table_rows("test_balances") == inline_rows


def test_a_resumed_rebuild_starts_over_when_the_table_changed_meanwhile(
    balances: BalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    # given an interrupted rebuild, then a migration that adds a column
    _accounts(open_account, 2)
    wait_until_readable()

    def interrupt(_: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rebuild_projection("test_balances", batch_size=2, on_batch=interrupt)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE test_balances ADD COLUMN note text NOT NULL DEFAULT 'n/a'")
    # when
    result = rebuild_projection("test_balances", batch_size=2)
    # then
    assert (result.resumed, result.events_this_run, result.rows) == (False, 6, 2)
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT note FROM test_balances")
        assert cursor.fetchall() == [("n/a",)]


def test_a_view_over_the_read_model_reads_the_rebuilt_table(
    balances: BalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    # given a view that sums the read model
    open_account("ann", deposits=("1.00", "2.50"))
    with connection.cursor() as cursor:
        cursor.execute("CREATE VIEW test_balances_total AS SELECT sum(balance) FROM test_balances")
    try:
        # when
        rebuild_projection("test_balances")
        # then
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM test_balances_total")
            assert cursor.fetchone() == (Decimal("3.50"),)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP VIEW IF EXISTS test_balances_total")


def test_the_rebuilt_table_keeps_its_columns_statistics_targets(
    balances: BalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    # given a column whose statistics the planner was told to keep in more detail
    open_account("ann", deposits=("1.00",))
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE test_balances ALTER COLUMN balance SET STATISTICS 700")
    # when
    rebuild_projection("test_balances")
    # then the table swapped in has it too
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attstattarget FROM pg_attribute WHERE attrelid = 'test_balances'::regclass "
            "AND attname = 'balance'"
        )
        assert cursor.fetchone() == (700,)
