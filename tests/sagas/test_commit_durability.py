"""A step's own commits skip the WAL flush (SAGA_STEP_ASYNC_COMMIT); the outcome's commit
waits for it, and the connection always gets its own synchronous_commit back, whatever way
the run ends — a worker's connection serves other tasks afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from pytest_django.fixtures import Settings as SettingsWrapper

from sagas.domain import SagaStatus
from sagas.models import SagaInstance
from sagas.services import saga_advance

from .definitions import WorkerDied
from .factories import start_test_saga

# Real transactions: inside one test transaction a SET LOCAL would outlive its commit.
pytestmark = pytest.mark.django_db(transaction=True)


def commit_mode() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


def set_commit_mode(mode: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SET synchronous_commit TO {mode}")


@pytest.fixture(autouse=True)
def _default_commit_mode() -> Iterator[None]:
    yield
    set_commit_mode("DEFAULT")  # the connection outlives the test


def test_steps_commit_asynchronously_and_the_session_gets_its_setting_back() -> None:
    # given: a session with a setting of its own (say, waiting for a standby)
    set_commit_mode("remote_write")
    saga = start_test_saga(record_commit_mode=True)
    # when: one task runs the whole chain
    saga_advance(saga_id=saga.saga_id, chain=True)
    # then
    saga = SagaInstance.objects.get(pk=saga.saga_id)
    assert saga.status == SagaStatus.COMPLETED
    assert saga.saga_data["commit_modes"] == ["off", "off", "off"]
    assert commit_mode() == "remote_write"


def test_switched_off_every_step_commit_waits_for_the_disk(settings: SettingsWrapper) -> None:
    # given
    settings.SAGA_STEP_ASYNC_COMMIT = False
    saga = start_test_saga(record_commit_mode=True)
    # when
    saga_advance(saga_id=saga.saga_id, chain=True)
    # then
    saga = SagaInstance.objects.get(pk=saga.saga_id)
    assert saga.saga_data["commit_modes"] == ["on", "on", "on"]
    assert commit_mode() == "on"


def test_a_run_that_ends_in_an_exception_gives_the_setting_back() -> None:
    # given: the second step's worker dies (an exception nothing catches)
    saga = start_test_saga(script={"charge": "die"}, record_commit_mode=True)
    # when
    with pytest.raises(WorkerDied):
        saga_advance(saga_id=saga.saga_id, chain=True)
    # then
    assert commit_mode() == "on"


def test_a_run_that_stops_between_steps_gives_the_setting_back() -> None:
    # given: the second step fails transiently, so the chain stops with a retry later
    saga = start_test_saga(script={"charge": "transient"}, record_commit_mode=True)
    # when
    saga_advance(saga_id=saga.saga_id, chain=True)
    # then
    saga = SagaInstance.objects.get(pk=saga.saga_id)
    assert saga.status == SagaStatus.RUNNING
    assert saga.current_step == "charge"
    assert commit_mode() == "on"
