"""End to end with real `celery worker` processes started by the test (see worker.py)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from pytest_django.fixtures import Settings as SettingsWrapper

from sagas.domain import SagaStatus
from sagas.services import saga_sweep

from .factories import start_test_saga
from .worker import CeleryWorker, drop_queue, swept_until, wait_for_saga, workers_on_one_queue

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_runs_a_saga_to_completed_and_sends_its_email(
    saga_worker: CeleryWorker,
) -> None:
    # given
    sent_before = len(saga_worker.emails())
    # when: started and committed; its first run is published on commit
    saga = start_test_saga(script={"notify": "email"}, email="buyer@example.com")
    # then
    saga = wait_for_saga(
        saga.saga_id, lambda s: s.status == SagaStatus.COMPLETED, worker=saga_worker
    )
    assert saga.saga_data["trail"] == ["reserve", "charge", "notify"]
    assert saga.step_log.filter(worker__contains=":").count() == 3
    emails = saga_worker.emails()[sent_before:]
    assert len(emails) == 1
    assert "To: buyer@example.com" in emails[0]
    assert f"Subject: Your order is confirmed ({saga.correlation_id[:8]})" in emails[0]
    assert "text/html" in emails[0]


def test_a_lost_broker_message_is_recovered_by_the_sweeper(
    saga_worker: CeleryWorker, settings: SettingsWrapper
) -> None:
    # given: the first run is published where no worker listens, and that message is lost
    settings.SAGA_QUEUE = "test-lost-messages"
    saga = start_test_saga()
    assert drop_queue("test-lost-messages") == 1
    settings.SAGA_QUEUE = saga_worker.queue
    # when: the sweeper runs once the message counts as lost
    settings.SAGA_REDISPATCH_AFTER = timedelta(0)
    with transaction.atomic():
        published = saga_sweep()
    # then
    assert published == 1
    saga = wait_for_saga(
        saga.saga_id, lambda s: s.status == SagaStatus.COMPLETED, worker=saga_worker
    )
    assert saga.saga_data["trail"] == ["reserve", "charge", "notify"]


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[CeleryWorker, CeleryWorker]]:
    """Two workers on one queue with a one-second lease, quick to take over a saga."""
    env = {"SAGA_LEASE_SECONDS": "1", "SAGA_REDISPATCH_AFTER_SECONDS": "0.2"}
    first, second = workers_on_one_queue(tmp_path, ("first", "second"), env)
    first.start()
    second.start()
    yield first, second
    first.stop()
    second.stop()


def test_a_step_that_outlives_its_lease_is_never_run_by_two_workers_at_once(
    two_workers: tuple[CeleryWorker, CeleryWorker], settings: SettingsWrapper, tmp_path: Path
) -> None:
    # given: a step that takes three leases, and the sweeper publishing the saga again and
    # again (as beat does) to a second worker that waits for work
    first, second = two_workers
    settings.SAGA_QUEUE = first.queue
    runs_file = tmp_path / "runs"
    runs_file.touch()
    saga = start_test_saga(script={"charge": "sleep:3"}, runs_file=str(runs_file))
    # when
    saga = swept_until(
        saga.saga_id,
        lambda s: s.status == SagaStatus.COMPLETED,
        queue=first.queue,
        timeout=30,
        every=0.2,
    )
    # then: no two runs of any step overlapped in time, and the step ran once
    runs = [line.split() for line in runs_file.read_text().splitlines()]
    spans = sorted((float(start), float(end), step) for step, _, start, end in runs)
    overlaps = [
        (earlier, later) for earlier, later in itertools.pairwise(spans) if later[0] < earlier[1]
    ]
    assert overlaps == []
    assert saga.status == SagaStatus.COMPLETED, first.log()[-2000:] + second.log()[-2000:]
    assert [step for step, *_ in runs] == ["reserve", "charge", "notify"]
    assert saga.step_log.filter(step="charge").values_list("outcome", flat=True).get() == (
        "SUCCEEDED"
    )


def test_a_threaded_worker_whose_step_hangs_past_the_hard_time_limit_ends_itself(
    tmp_path: Path, settings: SettingsWrapper
) -> None:
    # given: a worker as deployed (threads: nothing can kill a hung task) with a one-second
    # hard time limit, and a step that hangs for half a minute
    worker = CeleryWorker(
        log_dir=tmp_path,
        email_dir=tmp_path / "mail",
        extra_env={
            "CELERY_TASK_TIME_LIMIT": "1",
            "CELERY_TASK_SOFT_TIME_LIMIT": "0",
            "SAGA_LEASE_SECONDS": "0.6",
        },
    )
    worker.start()
    try:
        settings.SAGA_QUEUE = worker.queue
        # when
        start_test_saga(script={"reserve": "sleep:30"})
        deadline = time.monotonic() + 20
        while worker.running() and time.monotonic() < deadline:
            time.sleep(0.1)
        # then: the process ended itself, as a prefork pool's hard limit ends its child
        assert not worker.running(), worker.log()[-2000:]
        assert worker.process is not None
        assert worker.process.returncode == 70
        assert "has run past CELERY_TASK_TIME_LIMIT (1 s); ending this worker process" in (
            worker.log()
        )
    finally:
        worker.stop()
