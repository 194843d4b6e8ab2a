"""End to end with a real `celery worker` process started by the test (see worker.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.conf import settings as django_settings
from django.db import transaction
from pytest_django.fixtures import Settings as SettingsWrapper

from sagas.domain import SagaStatus
from sagas.services import saga_sweep

from .factories import start_test_saga
from .worker import CeleryWorker, wait_for_saga

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
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    assert broker.delete("test-lost-messages") == 1
    broker.close()
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
