"""Fixtures for saga tests; see worker.py for the real-worker fixtures and how to reuse them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from pytest_django.fixtures import Settings as SettingsWrapper

from .worker import CeleryWorker


@pytest.fixture(autouse=True)
def _unconsumed_saga_queue(settings: SettingsWrapper) -> Iterator[str]:
    """Runs that a test publishes without a worker go to a queue of its own, removed after."""
    queue = f"test-unconsumed-{uuid.uuid4().hex[:12]}"
    settings.SAGA_QUEUE = queue
    yield queue
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(queue)
    client.close()


@pytest.fixture(scope="session")
def celery_worker(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryWorker]:
    base = tmp_path_factory.mktemp("celery-worker")
    worker = CeleryWorker(log_dir=base, email_dir=base / "mail")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def saga_worker(celery_worker: CeleryWorker, settings: SettingsWrapper) -> CeleryWorker:
    settings.SAGA_QUEUE = celery_worker.queue
    return celery_worker
