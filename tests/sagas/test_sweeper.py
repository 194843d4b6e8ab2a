"""The sweeper publishes what the broker lost, what a dead worker left, and due retries.
Publishing is real: runs land in this test's own (unconsumed) queue on the test broker."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from pytest_django import DjangoCaptureOnCommitCallbacks
from pytest_django.fixtures import Settings as SettingsWrapper

from commerce_project.celery import app
from sagas.domain import SagaStatus
from sagas.models import SagaInstance
from sagas.services import saga_advance, saga_sweep

from .factories import start_test_saga

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(_unconsumed_saga_queue: str) -> Iterator[Callable[[], list[str]]]:
    """The saga ids published to this test's queue so far."""
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)

    def read() -> list[str]:
        import json

        messages = [json.loads(raw) for raw in client.lrange(_unconsumed_saga_queue, 0, -1)]
        return sorted(m["headers"]["argsrepr"].strip("[]()',") for m in messages)

    yield read
    client.close()


@pytest.fixture
def redispatch_now(settings: SettingsWrapper) -> None:
    settings.SAGA_REDISPATCH_AFTER = timedelta(0)


def sweep() -> int:
    """One sweep, committed, so its on-commit publishes happen."""
    with transaction.atomic():
        count = saga_sweep()
    return count


@pytest.mark.usefixtures("redispatch_now")
def test_a_due_saga_whose_message_was_lost_is_published_again(
    published: Callable[[], list[str]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    # given: a started saga whose first message never reached a worker
    saga = start_test_saga()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        count = saga_sweep()
    # then
    assert count == 1
    assert published() == [str(saga.saga_id)]
    saga.refresh_from_db()
    assert saga.dispatched_at is not None
    assert saga.version == 2


def test_a_recently_published_saga_is_left_alone(
    settings: SettingsWrapper, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    # given: started just now (its first run was published at start)
    settings.SAGA_REDISPATCH_AFTER = timedelta(minutes=1)
    start_test_saga()
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        count = saga_sweep()
    # then
    assert count == 0
    assert callbacks == []


@pytest.mark.usefixtures("redispatch_now")
def test_sweeping_twice_publishes_once_per_redispatch_period(
    settings: SettingsWrapper, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    # given
    start_test_saga()
    with django_capture_on_commit_callbacks(execute=True):
        first = saga_sweep()
    # when
    settings.SAGA_REDISPATCH_AFTER = timedelta(minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        second = saga_sweep()
    # then
    assert (first, second) == (1, 0)


@pytest.mark.usefixtures("redispatch_now")
def test_leased_sagas_wait_for_their_lease_to_expire(
    published: Callable[[], list[str]],
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    # given: one saga held by a live worker, one by a worker whose lease expired
    live, dead = start_test_saga(), start_test_saga()
    now = timezone.now()
    SagaInstance.objects.filter(pk=live.pk).update(
        lease_owner="live", lease_expires_at=now + timedelta(minutes=1)
    )
    SagaInstance.objects.filter(pk=dead.pk).update(
        lease_owner="dead", lease_expires_at=now - timedelta(seconds=1)
    )
    # when
    with django_capture_on_commit_callbacks(execute=True):
        count = saga_sweep()
    # then
    assert count == 1
    assert published() == [str(dead.saga_id)]


@pytest.mark.usefixtures("redispatch_now")
def test_retries_are_published_when_due_and_finished_sagas_never() -> None:
    # given: one saga waiting for a retry in the future, one finished
    waiting = start_test_saga(script={"reserve": "transient"})
    saga_advance(saga_id=waiting.saga_id)
    SagaInstance.objects.filter(pk=waiting.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=1)
    )
    done = start_test_saga()
    SagaInstance.objects.filter(pk=done.pk).update(status=SagaStatus.COMPLETED)
    # when / then
    assert saga_sweep() == 0
    SagaInstance.objects.filter(pk=waiting.pk).update(next_attempt_at=timezone.now())
    assert saga_sweep() == 1


@pytest.mark.usefixtures("redispatch_now")
def test_management_command_sweeps(capsys: pytest.CaptureFixture[str]) -> None:
    # given
    start_test_saga()
    start_test_saga()
    # when
    call_command("sweep_sagas")
    # then
    assert "published 2 saga run(s)" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweepers_publish_each_saga_once(
    published: Callable[[], list[str]], settings: SettingsWrapper
) -> None:
    # given: twenty sagas whose messages were published a minute ago and lost
    settings.SAGA_REDISPATCH_AFTER = timedelta(seconds=30)
    sagas = [start_test_saga() for _ in range(20)]
    SagaInstance.objects.update(dispatched_at=timezone.now() - timedelta(minutes=1))
    redis.Redis.from_url(django_settings.CELERY_BROKER_URL).delete(django_settings.SAGA_QUEUE)
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def run() -> None:
        try:
            barrier.wait()
            counts.append(sweep())
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then
    assert sum(counts) == 20
    assert published() == sorted(str(saga.saga_id) for saga in sagas)


def _use_broker(url: str) -> None:
    # Drop the cached connection and producer pools so the next publish connects to `url`
    # (what Celery itself does after a fork).
    app._pool = None  # type: ignore[attr-defined]
    app.amqp._producer_pool = None  # type: ignore[attr-defined]
    app.conf.update(broker_url=url, broker_write_url=url)


@pytest.fixture
def broker_down() -> Iterator[str]:
    """Point the Celery app at a port where no broker listens (a real refused connection);
    yields the real broker's URL."""
    original: str = app.conf.broker_url
    _use_broker("redis://127.0.0.1:1/0")
    yield original
    _use_broker(original)


@pytest.mark.usefixtures("redispatch_now")
@pytest.mark.django_db(transaction=True)
def test_a_failed_publish_is_logged_and_the_sweeper_publishes_it_later(
    broker_down: str, published: Callable[[], list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    # when: the saga is started (and committed) while the broker is down
    saga = start_test_saga()
    # then: no error reached the caller, only the log
    assert "could not publish a run of saga" in caplog.text
    assert published() == []
    # when: the broker is back and the sweeper runs
    _use_broker(broker_down)
    sweep()
    # then
    assert published() == [str(saga.saga_id)]
