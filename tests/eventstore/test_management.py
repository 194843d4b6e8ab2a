"""Operator commands: output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from django.db import connection
from pytest_django.fixtures import Settings

from eventstore.store import load
from tests.eventstore.bank import AsyncBalanceProjection, BalanceProjection


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _insert_unknown_event(aggregate_id: uuid.UUID, version: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO events (id, aggregate_id, aggregate_type, event_type, event_data, "
            "version) VALUES (%s, %s, 'BankAccount', 'BankAccountVanished', '{}', %s)",
            [uuid.uuid4(), aggregate_id, version],
        )


@pytest.mark.parametrize(
    ("command", "phrases"),
    [
        ("replay_events", ["--aggregate-id", "--version", "--as-of", "--all --check", "exits 1"]),
        ("rebuild_projections", ["--batch-size", "shadow table", "resumes", "--restart"]),
        ("verify_projections", ["exits 1", "by key"]),
        ("list_projections", ["checkpoint", "lag"]),
    ],
)
def test_help_explains_the_command(command: str, phrases: list[str]) -> None:
    text = " ".join(
        load_command_class("eventstore", command)
        .create_parser("manage.py", command)
        .format_help()
        .split()
    )
    for phrase in phrases:
        assert phrase in text


@pytest.mark.django_db
def test_replay_events_prints_events_and_state(open_account: Callable[..., uuid.UUID]) -> None:
    # given
    account_id = open_account("ann", deposits=("10.00", "5.00"))
    # when
    out, _ = _run("replay_events", "--aggregate-id", str(account_id))
    # then
    assert f"Stream {account_id} (BankAccount): 3 of 3 events, at version 3" in out
    assert "BankAccountOpened" in out
    assert '{"amount": "5.00"}' in out
    assert '"balance": "15.00"' in out


@pytest.mark.django_db
def test_replay_events_travels_in_time_as_json(open_account: Callable[..., uuid.UUID]) -> None:
    # given
    account_id = open_account("ann", deposits=("10.00", "5.00"))
    second_at = load(account_id)[1].created_at.isoformat()
    # when
    by_version = json.loads(
        _run("replay_events", "--aggregate-id", str(account_id), "--version", "2", "--json")[0]
    )
    by_time = json.loads(
        _run("replay_events", "--aggregate-id", str(account_id), "--as-of", second_at, "--json")[0]
    )
    # then
    for document in (by_version, by_time):
        assert (document["version"], document["stream_version"]) == (2, 3)
        assert [e["event_type"] for e in document["events"]] == [
            "BankAccountOpened",
            "BankMoneyDeposited",
        ]
        assert document["state"]["balance"] == "10.00"


@pytest.mark.django_db
def test_replay_events_of_an_unknown_stream_fails() -> None:
    with pytest.raises(CommandError, match="no events"):
        _run("replay_events", "--aggregate-id", str(uuid.uuid4()))
    with pytest.raises(CommandError, match="--check"):
        _run("replay_events", "--all")


@pytest.mark.django_db
def test_replay_all_check_passes_on_a_healthy_log(
    open_account: Callable[..., uuid.UUID], settings: Settings
) -> None:
    settings.EVENTSTORE_SNAPSHOT_EVERY = 2
    open_account("ann", deposits=("1.00", "2.00"))
    open_account("bob")
    out, _ = _run("replay_events", "--all", "--check")
    assert "Checked 2 streams, 4 events, 1 snapshots." in out
    assert "All streams replay." in out


@pytest.mark.django_db
def test_replay_all_check_lists_failing_streams_and_exits_1(
    open_account: Callable[..., uuid.UUID], settings: Settings
) -> None:
    # given a stream with an event no code knows, and one whose snapshot lies
    settings.EVENTSTORE_SNAPSHOT_EVERY = 2
    healthy = open_account("ann")
    broken = open_account("bob")
    _insert_unknown_event(broken, 2)
    lying = open_account("cy", deposits=("1.00",))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE snapshots SET state = jsonb_set(state, '{balance}', '\"9.00\"')")
    out = StringIO()
    # when
    with pytest.raises(CommandError) as caught:
        call_command("replay_events", "--all", "--check", stdout=out)
    # then
    assert caught.value.returncode == 1
    text = out.getvalue()
    assert f"FAILED {broken} (BankAccount) at version 2: UnknownEventType" in text
    assert f"FAILED {lying} (BankAccount) at version 2: snapshot at version 2 differs" in text
    assert str(healthy) not in text


@pytest.mark.django_db(transaction=True)
def test_replay_all_check_exit_code_from_the_shell(open_account: Callable[..., uuid.UUID]) -> None:
    # given a committed broken stream in the test database
    broken = open_account("bob")
    _insert_unknown_event(broken, 2)
    database = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}",
        "DJANGO_SETTINGS_MODULE": "commerce_project.settings.test",
    }
    # when
    completed = subprocess.run(
        [sys.executable, "manage.py", "replay_events", "--all", "--check"],
        cwd=Path(settings.BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # then
    assert completed.returncode == 1, completed.stderr
    assert f"FAILED {broken}" in completed.stdout
    assert "1 of 1 streams failed to replay" in completed.stderr


@pytest.mark.django_db(transaction=True)
def test_rebuild_projections_reports_counts_and_progress(
    balances: BalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    # given
    open_account("ann", deposits=("1.00",))
    open_account("bob")
    # when
    out, err = _run("rebuild_projections", "test_balances", "--batch-size", "2")
    # then
    assert "test_balances: rebuilt test_balances from 3 events into 2 rows in" in out
    assert "events/s" in out
    assert "events/s" in err  # the progress bar
    assert "3/3" in err


@pytest.mark.django_db
def test_rebuild_projections_of_an_unknown_projection_fails() -> None:
    with pytest.raises(CommandError, match="unknown projection 'nope'"):
        _run("rebuild_projections", "nope", "--no-progress")


@pytest.mark.django_db
def test_verify_projections_passes_when_the_read_model_matches(
    balances: BalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    open_account("ann", deposits=("1.00",))
    out, _ = _run("verify_projections", "test_balances")
    assert "test_balances: OK, 1 rows in test_balances match 2 events" in out


@pytest.mark.django_db
def test_verify_projections_names_the_corrupted_row_and_exits_1(
    balances: BalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    # given one row corrupted, one deleted, one that no event explains
    corrupted = open_account("ann", deposits=("1.00",))
    deleted = open_account("bob")
    intact = open_account("cy")
    stray = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE test_balances SET balance = 99 WHERE id = %s", [corrupted])
        cursor.execute("DELETE FROM test_balances WHERE id = %s", [deleted])
        cursor.execute(
            "INSERT INTO test_balances VALUES (%s, 'x', 'EUR', 0, '[]', now(), 1, NULL)", [stray]
        )
    out = StringIO()
    # when
    with pytest.raises(CommandError) as caught:
        call_command("verify_projections", "test_balances", stdout=out)
    # then
    assert caught.value.returncode == 1
    text = out.getvalue()
    assert "test_balances: DRIFT in 3 rows of test_balances" in text
    assert f"{corrupted}: differs" in text
    assert "balance: stored Decimal('99.00'), expected Decimal('1.00')" in text
    assert f"{deleted}: missing" in text
    assert f"{stray}: unexpected" in text
    assert str(intact) not in text


@pytest.mark.django_db(transaction=True)
def test_verify_an_async_projection_up_to_its_checkpoint(
    async_balances: AsyncBalanceProjection, open_account: Callable[..., uuid.UUID]
) -> None:
    # given events the runner has not handled yet: not drift
    open_account("ann", deposits=("1.00",))
    out, _ = _run("verify_projections", "test_balances_async")
    assert "test_balances_async: OK, 0 rows in test_balances_async match 0 events" in out


@pytest.mark.django_db
def test_list_projections_shows_checkpoints_and_lag(
    balances: BalanceProjection,
    async_balances: AsyncBalanceProjection,
    open_account: Callable[..., uuid.UUID],
) -> None:
    # given
    open_account("ann", deposits=("1.00",))
    # when
    out, _ = _run("list_projections")
    # then
    lines = out.splitlines()
    assert lines[0].split() == [
        "NAME",
        "MODE",
        "TABLE",
        "CHECKPOINT",
        "PROCESSED",
        "LAG",
        "UPDATED",
        "REBUILD",
    ]
    inline = next(line for line in lines if line.startswith("test_balances "))
    asynchronous = next(line for line in lines if line.startswith("test_balances_async "))
    assert inline.split()[1:3] == ["inline", "test_balances"]
    assert asynchronous.split()[1:3] == ["async", "test_balances_async"]
    assert asynchronous.split()[6] == "2"  # two events not projected yet
    assert "never" in asynchronous
