"""A real worker whose broker goes away and comes back (a private `redis-server`).

The worker must survive the outage and consume again once the broker is back: not exit
("Unrecoverable error" in kombu's restore_unacked), not hang. What the outage loses (the
message of the step in flight, the next run it could not publish) the sweeper recovers;
that is tested in test_worker.py and test_sweeper.py.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from sagas.dispatch import ADVANCE_TASK
from sagas.domain import SagaStatus
from sagas.models import SagaInstance

from .broker import RedisServer, free_port
from .factories import start_test_saga
from .worker import CeleryWorker, wait_for_saga

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not RedisServer.available(), reason="needs redis-server"),
]

# As the Procfile, compose and k8s run it: the threads pool (its consumer sees the outage
# while tasks run), with heartbeat, mingle, gossip and remote control (their own channels).
DEPLOYED_OPTIONS = ("--pool=threads",)
DOWN_FOR = 3.0  # longer than the worker's first reconnection interval (2 s)
RECOVERY_TIMEOUT = 30.0


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(port=free_port(), log_path=tmp_path / "redis.log")
    server.start()
    yield server
    server.kill()


@pytest.fixture
def worker(broker: RedisServer, tmp_path: Path) -> Iterator[CeleryWorker]:
    worker = CeleryWorker(
        log_dir=tmp_path,
        email_dir=tmp_path / "mail",
        extra_env={"TEST_CELERY_BROKER_URL": broker.url()},
        options=DEPLOYED_OPTIONS,
    )
    worker.start()
    yield worker
    worker.stop()


def publish_run(broker: RedisServer, queue: str, saga_id: uuid.UUID) -> None:
    """What saga_enqueue does, on the private broker (the test process's app has its own)."""
    app = Celery("broker-outage-test", broker=broker.url(), set_as_current=False)
    try:
        app.send_task(ADVANCE_TASK, args=[str(saga_id)], queue=queue)
    finally:
        app.close()


@pytest.mark.parametrize("outage", ["kill", "shutdown"])
def test_a_worker_survives_a_broker_restart_and_consumes_again(
    broker: RedisServer, worker: CeleryWorker, outage: str
) -> None:
    # given: a step in flight (delivered, not acked: acks_late) when the broker goes away
    busy = start_test_saga(script={"reserve": "sleep:2"})
    publish_run(broker, worker.queue, busy.saga_id)
    wait_for_saga(busy.saga_id, lambda s: bool(s.lease_owner), worker=worker)
    log_offset = worker.log_path.stat().st_size
    # when: the broker dies (SIGKILL) or stops cleanly, and comes back empty on its port
    broker.kill() if outage == "kill" else broker.shutdown()
    time.sleep(DOWN_FOR)
    assert worker.running(), worker.log()
    broker.start()
    # then: the worker is still there and runs a saga published after the restart
    fresh = start_test_saga()
    publish_run(broker, worker.queue, fresh.saga_id)

    def completed_by_a_live_worker(saga: SagaInstance) -> bool:
        log = worker.log(log_offset)
        assert worker.running(), log
        assert "Unrecoverable error" not in log, log
        return saga.status == SagaStatus.COMPLETED

    wait_for_saga(
        fresh.saga_id, completed_by_a_live_worker, worker=worker, timeout=RECOVERY_TIMEOUT
    )
    # and the step in flight was finished and recorded (its next run, lost with the
    # broker's data, is the sweeper's to publish again)
    busy.refresh_from_db()
    assert busy.completed_steps[:1] == ["reserve"]
