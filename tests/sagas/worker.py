"""A real `celery worker` process for tests, reusable by any test package.

`CeleryWorker` runs `python -m celery -A commerce_project worker` (the threads pool) against
the pytest test database, the test broker and a queue of its own, with the settings module
`tests.sagas.worker_settings` (test settings plus the file email backend, so a test can read
the emails the worker sent from `email_dir`). Timers and other settings can be passed as
environment variables (`extra_env`, e.g. {"SAGA_LEASE_SECONDS": "1"}); test saga definitions
are loaded through SAGA_DEFINITION_MODULES. `options` replaces the quiet defaults (the
deployed pool, no heartbeat, mingle or gossip) with other `celery worker` options.

Fixtures, defined here; a test package makes them available by importing them into its
conftest: `from tests.sagas.worker import celery_worker, saga_worker` (as
tests/sagas/conftest.py does):
- `celery_worker` (session): one worker, started on first use, stopped at the end;
- `amqp_celery_worker` (session): one worker on RabbitMQ (TEST_CELERY_AMQP_URL, a vhost of
  the test run's own, `commerce_test` by default, created with `rabbitmqctl` when missing);
- `saga_worker` (function, parametrized over the brokers `redis` and `amqp`): one of those
  workers, with this test's `settings.SAGA_QUEUE` pointed at its queue and the test's
  publishes going to its broker, so every test using it runs once per broker. Use it with
  `@pytest.mark.django_db(transaction=True)`: the worker only sees committed data.
  TEST_CELERY_AMQP_URL set to an empty string skips the RabbitMQ variants.
Tests that need to kill or restart a worker (crash recovery), or several workers on one
queue, build their own `CeleryWorker(...)` (or `workers_on_one_queue(...)`) with `start()`,
`kill()` (SIGKILL) and `stop()`, and drive them with `swept_until(...)`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from pytest_django.fixtures import Settings as SettingsWrapper

from commerce_project.celery import app, publishing_to
from sagas.models import SagaInstance

READY_MARK = " ready."
# A quiet worker with the deployed pool (threads, CELERY_WORKER_CONCURRENCY of them: several
# sagas at once in one process), no traffic with other workers.
QUIET_OPTIONS = ("--pool=threads", "--without-heartbeat", "--without-mingle", "--without-gossip")
# The same on RabbitMQ.
AMQP_OPTIONS = QUIET_OPTIONS
START_TIMEOUT = 30.0


def database_url() -> str:
    """The URL of the database this pytest run uses (pytest-django's test_<name>)."""
    db: Mapping[str, Any] = settings.DATABASES["default"]
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{credentials}@{host}:{port}/{db['NAME']}"


class CeleryWorker:
    def __init__(
        self,
        *,
        log_dir: Path,
        email_dir: Path,
        queue: str | None = None,
        definition_modules: tuple[str, ...] = ("tests.sagas.definitions",),
        extra_env: Mapping[str, str] | None = None,
        options: tuple[str, ...] = QUIET_OPTIONS,
        broker_url: str | None = None,
    ) -> None:
        self.broker_url = broker_url or settings.CELERY_BROKER_URL
        self.queue = queue or f"test-worker-{uuid.uuid4().hex[:12]}"
        self.email_dir = email_dir
        self.log_path = log_dir / f"{self.queue}.log"
        self.definition_modules = definition_modules
        self.extra_env = dict(extra_env or {})
        self.options = options
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="tests.sagas.worker_settings",
            DATABASE_URL=database_url(),
            TEST_REDIS_URL=settings.REDIS_URL,
            TEST_CELERY_BROKER_URL=self.broker_url,
            # the worker's broker may be that one; it starts no workers of its own
            TEST_CELERY_AMQP_URL="",
            TEST_CELERY_RESULT_BACKEND=settings.CELERY_RESULT_BACKEND,
            SAGA_QUEUE=self.queue,
            SAGA_DEFINITION_MODULES=",".join(self.definition_modules),
            EMAIL_FILE_PATH=str(self.email_dir),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.email_dir.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log = self.log_path.open("ab")
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "commerce_project",
            "worker",
            "--loglevel=INFO",
            f"--queues={self.queue}",
            f"--hostname={self.queue}@%h",
            *self.options,
        ]
        self.process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=self.environment(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our signals reach the worker only
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited at start:\n{self.log()}")
            if READY_MARK in self.log(offset):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"celery worker not ready after {START_TIMEOUT}s:\n{self.log()}")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self, offset: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-task, acks nothing, cleans nothing up."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self._close_log()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def emails(self) -> list[str]:
        """Every message the worker's file backend wrote, oldest first."""
        files = sorted(self.email_dir.glob("*.log"), key=lambda path: path.stat().st_mtime)
        return [path.read_text() for path in files]


def drop_queue(name: str) -> int:
    """Remove a queue from the broker the app publishes to (Redis or RabbitMQ), with its
    messages, as a broker that lost them would; how many messages it held."""
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        try:
            purged = channel.queue_purge(name) or 0
        except connection.channel_errors:  # RabbitMQ: no such queue
            return 0
        channel.queue_delete(name)
        return int(purged)


def wait_for_saga(
    saga_id: uuid.UUID,
    done: Callable[[SagaInstance], bool],
    *,
    worker: CeleryWorker | None = None,
    timeout: float = 20.0,
) -> SagaInstance:
    """Poll the database until `done(saga)` holds (the worker commits as it goes)."""
    deadline = time.monotonic() + timeout
    saga = None
    while time.monotonic() < deadline:
        saga = SagaInstance.objects.filter(pk=saga_id).first()
        if saga is not None and done(saga):
            return saga
        time.sleep(0.05)
    state = f"{saga.status} at {saga.current_step!r}" if saga else "missing"
    details = f"\nworker log:\n{worker.log()[-4000:]}" if worker else ""
    raise AssertionError(f"saga {saga_id} not done after {timeout}s ({state}){details}")


def workers_on_one_queue(
    base: Path, names: Sequence[str], extra_env: Mapping[str, str]
) -> list[CeleryWorker]:
    """Workers (not started) that consume one queue of their own, each logging to
    `base/<name>`, sharing one mail directory."""
    queue = f"test-{names[0]}-{uuid.uuid4().hex[:10]}"
    workers = []
    for name in names:
        (base / name).mkdir()
        workers.append(
            CeleryWorker(
                log_dir=base / name, email_dir=base / "mail", queue=queue, extra_env=extra_env
            )
        )
    return workers


def swept_until(
    saga_id: uuid.UUID,
    done: Callable[[SagaInstance], bool],
    *,
    queue: str,
    timeout: float = 30.0,
    every: float = 0.5,
) -> SagaInstance:
    """Publish the sweeper to `queue` every `every` seconds, as beat would, until `done(saga)`
    holds or `timeout` passes; the saga as it is then."""
    deadline = time.monotonic() + timeout
    saga = SagaInstance.objects.get(pk=saga_id)
    while not done(saga) and time.monotonic() < deadline:
        app.send_task("sagas.tasks.sweep_sagas", queue=queue)
        time.sleep(every)
        saga = SagaInstance.objects.get(pk=saga_id)
    return saga


@pytest.fixture(scope="session")
def celery_worker(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryWorker]:
    """One real worker for the session, started on first use (it needs the test database,
    hence django_db_setup, which also makes it stop before that database is dropped)."""
    base = tmp_path_factory.mktemp("celery-worker")
    worker = CeleryWorker(log_dir=base, email_dir=base / "mail")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def amqp_celery_worker(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryWorker]:
    """One real worker on the test run's RabbitMQ vhost, for the session."""
    url = settings.TEST_CELERY_AMQP_URL
    if not url:
        pytest.skip("TEST_CELERY_AMQP_URL is empty: the RabbitMQ variants are switched off")
    ensure_amqp_vhost(url)
    base = tmp_path_factory.mktemp("celery-worker-amqp")
    worker = CeleryWorker(
        log_dir=base, email_dir=base / "mail", broker_url=url, options=AMQP_OPTIONS
    )
    worker.start()
    yield worker
    worker.stop()


def ensure_amqp_vhost(url: str) -> None:
    """Create the vhost of `url` with `rabbitmqctl` when RabbitMQ answers that it is missing
    (the tests never use the default vhost `/`, which development may use)."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)
            return
    except Exception as error:
        reason = repr(error)
    vhost = urlsplit(url).path[1:] or "/"
    user = urlsplit(url).username or "guest"
    if shutil.which("rabbitmqctl") is None:
        raise RuntimeError(f"RabbitMQ refused {url} ({reason}) and rabbitmqctl is not installed")
    for command in (
        ["rabbitmqctl", "add_vhost", vhost],
        ["rabbitmqctl", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
    ):
        subprocess.run(command, check=False, capture_output=True, timeout=60)
    with Connection(url, connect_timeout=5) as connection:
        try:
            connection.ensure_connection(max_retries=1)
        except Exception as error:
            raise RuntimeError(
                f"RabbitMQ refused {url} ({reason}; then {error!r}): is it running "
                f"(`rabbitmq-server -detached`)? Create the vhost once with `rabbitmqctl "
                f"add_vhost {vhost} && rabbitmqctl set_permissions -p {vhost} {user} "
                f"'.*' '.*' '.*'`, or set TEST_CELERY_AMQP_URL= (empty) to skip RabbitMQ."
            ) from error


BROKERS = ("redis", "amqp")


@pytest.fixture(params=BROKERS)
def saga_worker(
    request: pytest.FixtureRequest, settings: SettingsWrapper
) -> Iterator[CeleryWorker]:
    """A session worker on each broker in turn, with this test's saga runs published to its
    queue through its broker."""
    worker: CeleryWorker = request.getfixturevalue(
        "celery_worker" if request.param == "redis" else "amqp_celery_worker"
    )
    settings.SAGA_QUEUE = worker.queue
    with publishing_to(worker.broker_url):
        yield worker
