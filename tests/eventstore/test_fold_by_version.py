"""A stream read out of version order is still folded by version: `read_all` delivers v5
before v4 when v5's transaction took its id before v4's (two real connections), and the
catch-up runner, a rebuild, verify and an inline projection must all end with the row of
v1..v5 applied in order."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from eventstore.projections import checkpoint_get, run_projection
from eventstore.rebuild import rebuild_projection
from eventstore.repository import Repository
from eventstore.verify import verify_projection
from tests.eventstore.bank import AsyncBalanceProjection, BalanceProjection, BankAccount
from tests.eventstore.conftest import (
    append_under_an_older_transaction,
    stream_versions_in_read_order,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _deposit(accounts: Repository[BankAccount], account_id: uuid.UUID, amount: str) -> None:
    account = accounts.get(account_id)
    account.deposit(Decimal(amount))
    accounts.save(account)


@pytest.fixture
def account_read_out_of_order(
    accounts: Repository[BankAccount], open_account: Callable[..., uuid.UUID]
) -> uuid.UUID:
    """An account at v3 whose v5 (deposit 5.00) is read before its v4 (deposit 4.00)."""
    account_id = open_account("ann", deposits=("2.00", "3.00"))
    append_under_an_older_transaction(
        first=lambda: _deposit(accounts, account_id, "4.00"),
        then=lambda: _deposit(accounts, account_id, "5.00"),
    )
    assert stream_versions_in_read_order(account_id) == [1, 2, 3, 5, 4]
    return account_id


def _row(table: str, account_id: uuid.UUID) -> dict[str, Any] | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT balance, movements, version FROM {table} WHERE id = %s", [account_id]
        )
        row = cursor.fetchone()
    if row is None:
        return None
    movements = row[1] if isinstance(row[1], list) else json.loads(row[1])
    return {"balance": row[0], "movements": movements, "version": row[2]}


_FOLDED_IN_ORDER = {
    "balance": Decimal("14.00"),
    "movements": ["2.00", "3.00", "4.00", "5.00"],
    "version": 5,
}


@pytest.mark.parametrize("batch_size", [1, 2, 500])
def test_the_runner_folds_a_stream_by_version_when_read_out_of_order(
    async_balances: AsyncBalanceProjection,
    account_read_out_of_order: uuid.UUID,
    batch_size: int,
) -> None:
    # given
    account_id = account_read_out_of_order
    # when
    handled = run_projection("test_balances_async", batch_size=batch_size)
    # then
    assert handled == 5
    assert _row("test_balances_async", account_id) == _FOLDED_IN_ORDER


def test_an_inline_projection_folds_a_stream_read_out_of_order_by_version(
    balances: BalanceProjection,
    account_read_out_of_order: uuid.UUID,
) -> None:
    # given
    account_id = account_read_out_of_order
    # then
    assert _row("test_balances", account_id) == _FOLDED_IN_ORDER


@pytest.mark.parametrize("batch_size", [1, 2, 5000])
def test_a_rebuild_folds_a_stream_by_version_when_read_out_of_order(
    balances: BalanceProjection,
    account_read_out_of_order: uuid.UUID,
    batch_size: int,
) -> None:
    # given
    account_id = account_read_out_of_order
    # when
    rebuild_projection("test_balances", batch_size=batch_size)
    # then
    assert _row("test_balances", account_id) == _FOLDED_IN_ORDER


def test_verify_accepts_a_correct_row_of_a_stream_read_out_of_order(
    balances: BalanceProjection,
    account_read_out_of_order: uuid.UUID,
) -> None:
    # given a correct row
    account_id = account_read_out_of_order
    assert _row("test_balances", account_id) == _FOLDED_IN_ORDER
    # when
    result = verify_projection("test_balances", batch_size=2)
    # then
    assert result.ok, result.drifts
    assert result.events == 5


def test_verify_of_an_async_projection_folds_each_stream_up_to_the_checkpoint(
    async_balances: AsyncBalanceProjection,
    account_read_out_of_order: uuid.UUID,
) -> None:
    # given the runner stopped right after v5, which it folded after reading v4 from the
    # stream: its checkpoint is v5's position, before v4's
    account_id = account_read_out_of_order
    assert run_projection("test_balances_async", batch_size=1, max_batches=4) == 4
    assert checkpoint_get("test_balances_async").events_processed == 4
    # when
    result = verify_projection("test_balances_async")
    # then
    assert result.ok, result.drifts
    assert _row("test_balances_async", account_id) == _FOLDED_IN_ORDER


def test_verify_reports_a_row_folded_in_read_order_instead_of_version_order(
    balances: BalanceProjection,
    account_read_out_of_order: uuid.UUID,
) -> None:
    # given the row a fold in read_all order leaves: v5 applied on v3, then v4 skipped
    account_id = account_read_out_of_order
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE test_balances SET balance = 10.00, movements = %s::jsonb WHERE id = %s",
            [json.dumps(["2.00", "3.00", "5.00"]), account_id],
        )
    # when
    result = verify_projection("test_balances")
    # then
    assert [(d.key, d.kind) for d in result.drifts] == [(account_id, "different")]
    assert result.drifts[0].columns["balance"] == (Decimal("10.00"), Decimal("14.00"))
