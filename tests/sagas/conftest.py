"""Fixtures for saga tests. The real-worker fixtures live in worker.py (reusable from any
test package: import them into its conftest the same way)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from pytest_django.fixtures import Settings as SettingsWrapper

from .worker import amqp_celery_worker, celery_worker, saga_worker

__all__ = ["amqp_celery_worker", "celery_worker", "saga_worker"]


@pytest.fixture(autouse=True)
def _unconsumed_saga_queue(settings: SettingsWrapper) -> Iterator[str]:
    """Runs that a test publishes without a worker go to a queue of its own, removed after."""
    queue = f"test-unconsumed-{uuid.uuid4().hex[:12]}"
    settings.SAGA_QUEUE = queue
    yield queue
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(queue)
    client.close()
