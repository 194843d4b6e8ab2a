"""Projections: inline read models commit with the events, guarded upserts never go
backwards, and the catch-up runner moves its checkpoint with the read model."""

from __future__ import annotations

import enum
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction

from eventstore.exceptions import UnknownProjection
from eventstore.projections import (
    checkpoint_get,
    get_projection,
    projection_lock,
    projection_status,
    run_projection,
    upsert_guarded,
)
from eventstore.repository import Repository
from eventstore.store import RecordedEvent
from eventstore.tasks import run_async_projections
from tests.eventstore.bank import AsyncBalanceProjection, BalanceProjection, BankAccount
from tests.eventstore.conftest import InThread, run_projection_until, wait_until_readable


def _row(table: str, account_id: uuid.UUID) -> dict[str, Any] | None:
    return get_projection(table).fetch_rows(table, [account_id]).get(account_id)


@pytest.mark.django_db
def test_an_inline_projection_writes_in_the_appending_transaction(
    balances: BalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    # when
    account_id = open_account("ann", deposits=("10.00", "2.50"))
    # then
    row = _row("test_balances", account_id)
    assert row is not None
    assert row["owner"] == "ann"
    assert row["balance"] == Decimal("12.50")
    assert row["movements"] == ["10.00", "2.50"]
    assert row["version"] == 3


@pytest.mark.django_db
def test_a_rolled_back_append_leaves_no_trace_in_the_read_model(
    balances: BalanceProjection,
    accounts: Repository[BankAccount],
    open_account: Callable[..., uuid.UUID],
) -> None:
    # given
    account_id = open_account("ann", deposits=("1.00",))
    fresh = BankAccount.open(uuid.uuid4(), "bob")
    seen_inside: list[Decimal] = []

    def save_both_then_fail() -> None:
        with transaction.atomic():
            account = accounts.get(account_id)
            account.deposit(Decimal("5.00"))
            accounts.save(account)
            accounts.save(fresh)
            seen_inside.append(_row("test_balances", account_id)["balance"])  # type: ignore[index]
            raise RuntimeError("boom")

    # when a transaction appends, projects, then fails
    with pytest.raises(RuntimeError):
        save_both_then_fail()
    assert seen_inside == [Decimal("6.00")]
    # then
    assert _row("test_balances", account_id)["balance"] == Decimal("1.00")  # type: ignore[index]
    assert _row("test_balances", fresh.id) is None


@pytest.mark.django_db
def test_guarded_upsert_never_moves_a_row_backwards(balances: BalanceProjection) -> None:
    # given a row at version 5
    key = uuid.uuid4()
    row = {
        "id": key,
        "owner": "ann",
        "currency": "EUR",
        "balance": Decimal("5.00"),
        "movements": ["5.00"],
        "opened_at": "2026-01-01T00:00:00+00:00",
        "version": 5,
    }
    assert upsert_guarded("test_balances", [row], "id") == 1
    # when an older and an equal version arrive, then a newer one
    older = upsert_guarded("test_balances", [{**row, "balance": Decimal(1), "version": 4}], "id")
    same = upsert_guarded("test_balances", [{**row, "balance": Decimal(2), "version": 5}], "id")
    newer = upsert_guarded("test_balances", [{**row, "balance": Decimal(6), "version": 6}], "id")
    # then
    assert (older, same, newer) == (0, 0, 1)
    stored = _row("test_balances", key)
    assert stored is not None
    assert (stored["balance"], stored["version"]) == (Decimal(6), 6)


@pytest.mark.django_db
def test_handling_an_event_twice_is_harmless(
    balances: BalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    # given
    account_id = open_account("ann", deposits=("3.00",))
    events = _events_of(account_id)
    # when the same events are delivered again, in any order
    balances.handle(list(reversed(events)))
    balances.handle(events)
    # then
    assert _row("test_balances", account_id)["balance"] == Decimal("3.00")  # type: ignore[index]


def _events_of(account_id: uuid.UUID) -> list[RecordedEvent]:
    from eventstore.store import load

    return load(account_id)


@pytest.mark.django_db(transaction=True)
def test_the_runner_catches_up_an_async_projection_from_its_checkpoint(
    async_balances: AsyncBalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    # given events the async projection has not seen
    ann = open_account("ann", deposits=("1.00", "2.00"))
    assert _row("test_balances_async", ann) is None
    # when
    handled = run_projection_until("test_balances_async", 3)
    # then
    assert handled == 3
    assert _row("test_balances_async", ann)["balance"] == Decimal("3.00")  # type: ignore[index]
    checkpoint = checkpoint_get("test_balances_async")
    assert checkpoint.events_processed == 3
    # when more events arrive, only those are handled
    bob = open_account("bob")
    assert run_projection_until("test_balances_async", 1) == 1
    assert run_projection("test_balances_async") == 0
    assert _row("test_balances_async", bob)["owner"] == "bob"  # type: ignore[index]
    assert checkpoint_get("test_balances_async").events_processed == 4


@pytest.mark.django_db(transaction=True)
def test_a_failing_batch_moves_neither_read_model_nor_checkpoint(
    async_balances: AsyncBalanceProjection,
    open_account: Callable[..., uuid.UUID],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given
    ann = open_account("ann", deposits=("1.00",))
    wait_until_readable()
    original = AsyncBalanceProjection.upsert

    def upsert_then_fail(self: AsyncBalanceProjection, table: str, rows: Any) -> int:
        original(self, table, rows)
        raise RuntimeError("crash after the read-model write")

    monkeypatch.setattr(AsyncBalanceProjection, "upsert", upsert_then_fail)
    # when
    with pytest.raises(RuntimeError):
        run_projection("test_balances_async")
    # then
    assert _row("test_balances_async", ann) is None
    assert checkpoint_get("test_balances_async").position == (0, 0)


@pytest.mark.django_db(transaction=True)
def test_one_runner_per_projection(
    async_balances: AsyncBalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    # given another process holds the projection's lock
    open_account("ann")
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with transaction.atomic():
            projection_lock("test_balances_async", wait=True)
            locked.set()
            assert release.wait(10)

    holder = InThread(hold_lock)
    assert locked.wait(10)
    # when / then
    assert run_projection("test_balances_async") == 0
    release.set()
    holder.join()
    assert run_projection_until("test_balances_async", 1) == 1


@pytest.mark.django_db(transaction=True)
def test_the_celery_task_runs_async_projections_only(
    balances: BalanceProjection,
    async_balances: AsyncBalanceProjection,
    open_account: Callable[..., uuid.UUID],
) -> None:
    # given
    ann = open_account("ann", deposits=("1.00",))
    # when
    results = [run_async_projections.apply().get()]
    deadline = time.monotonic() + 10
    while _row("test_balances_async", ann) is None and time.monotonic() < deadline:
        time.sleep(0.02)
        results.append(run_async_projections.apply().get())
    # then
    names_run = {name for result in results for name in result}
    assert "test_balances_async" in names_run
    assert "test_balances" not in names_run  # inline projections are not the task's business
    assert sum(result["test_balances_async"] for result in results) == 2


@pytest.mark.django_db(transaction=True)
def test_status_shows_lag_of_async_projections(
    balances: BalanceProjection,
    async_balances: AsyncBalanceProjection,
    open_account: Callable[..., uuid.UUID],
) -> None:
    open_account("ann", deposits=("1.00",))
    statuses = {s.name: s for s in projection_status()}
    assert statuses["test_balances"].lag == 0
    assert statuses["test_balances_async"].lag == 2
    run_projection_until("test_balances_async", 2)
    assert {s.name: s.lag for s in projection_status()}["test_balances_async"] == 0


def test_an_unknown_projection_is_named_with_the_known_ones() -> None:
    with pytest.raises(UnknownProjection, match="'nope'"):
        get_projection("nope")


@pytest.mark.django_db
def test_read_back_rows_decode_json_columns(balances: BalanceProjection) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO test_balances VALUES (%s, 'x', 'EUR', 1, '[\"1\"]', now(), 1, NULL)",
            [uuid.uuid4()],
        )
    (row,) = balances.rows()
    assert row["movements"] == ["1"]


class _Currency(enum.StrEnum):
    EUR = "EUR"


@pytest.mark.django_db
def test_one_row_alone_is_written_as_in_a_batch(balances: BalanceProjection) -> None:
    # given: rows with values of every kind a fold returns: a UUID, text, an enum, an int
    # for a numeric column, JSON with Decimals, a timestamp as text, another as datetime
    def row(key: uuid.UUID, opened_at: object) -> dict[str, Any]:
        return {
            "id": key,
            "owner": "ann",
            "currency": _Currency.EUR,
            "balance": 7,
            "movements": [Decimal("5.00"), {"note": None}],
            "opened_at": opened_at,
            "version": 3,
        }

    at = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    alone, batched, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    # when: one written on its own (one-row statement), the same in a batch of two
    assert upsert_guarded("test_balances", [row(alone, at.isoformat())], "id") == 1
    written = upsert_guarded("test_balances", [row(batched, at), row(other, at)], "id")
    # then
    assert written == 2
    stored_alone = _row("test_balances", alone)
    stored_batched = _row("test_balances", batched)
    assert stored_alone is not None
    assert stored_batched is not None
    assert {**stored_alone, "id": batched} == stored_batched
    assert stored_alone["opened_at"] == at
    assert stored_alone["movements"] == ["5.00", {"note": None}]
