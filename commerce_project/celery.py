"""The Celery app. Request ids travel with every task, so a worker's log lines can be joined
with the HTTP request that caused them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from celery import Celery, Task
from celery.signals import before_task_publish, celeryd_init, task_postrun, task_prerun

from commerce_project import kombu_guard

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commerce_project.settings.base")
# A worker must survive its Redis broker going away (kombu bug; see kombu_guard).
kombu_guard.install()

app = Celery("commerce_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

_REQUEST_ID_HEADER = "request_id"


@contextmanager
def publishing_to(broker_url: str) -> Iterator[None]:
    """Publish through `broker_url` inside the block (tests and benchmarks run real workers
    on both brokers, Redis and RabbitMQ, from one process). The app forgets its connection
    and producer pools on the way in and out, so no connection to the other broker is
    reused. Celery reads CELERY_BROKER_URL from the environment before its configuration,
    so that is switched too when it is set."""
    previous_conf = app.conf.get("broker_url")
    previous_write = app.conf.get("broker_write_url")
    previous_env = os.environ.get("CELERY_BROKER_URL")
    _drop_broker_connections()
    app.conf["broker_url"] = broker_url
    app.conf["broker_write_url"] = broker_url  # publishes go there when it is set
    if previous_env is not None:
        os.environ["CELERY_BROKER_URL"] = broker_url
    try:
        yield
    finally:
        _drop_broker_connections()
        app.conf["broker_url"] = previous_conf
        app.conf["broker_write_url"] = previous_write
        if previous_env is not None:
            os.environ["CELERY_BROKER_URL"] = previous_env


@celeryd_init.connect
def _fit_the_worker_pool(
    instance: Any = None, conf: Any = None, options: dict[str, Any] | None = None, **_: Any
) -> None:
    """Fit the database connection pool (settings DB_POOL) and the saga lease keeper to the
    worker's task pool (`--pool`; Celery's default is prefork). Runs before the worker
    connects to anything.

    prefork: no database pool. Celery's Django fixup closes the database after every task in
    such a worker (a pool must not cross the fork), so each task would open `min_size`
    connections instead of one. A hard time limit kills the child running a hung task.

    threads (as deployed) and solo: the pool is kept, sized for every thread that may hold a
    connection at once (each task thread, one webhook pump's dispatcher threads, the saga
    lease keeper). Nothing can kill a hung thread, so a saga step that runs past the hard time
    limit ends the whole process instead (sagas/leases.py), which its supervisor restarts."""
    from django.conf import settings

    from sagas.leases import end_the_process_when_a_step_hangs

    options = options or {}
    # `--pool` arrives as the option "pool" (a class); "pool_cls" when a program passes it.
    pool_cls = (
        options.get("pool")
        or options.get("pool_cls")
        or getattr(instance, "pool_cls", None)
        or getattr(conf, "worker_pool", None)
        or "prefork"
    )
    name = pool_cls if isinstance(pool_cls, str) else getattr(pool_cls, "__module__", "")
    prefork = "prefork" in name
    if not prefork:
        end_the_process_when_a_step_hangs()
    for database in settings.DATABASES.values():
        database_options = database.get("OPTIONS", {})
        if prefork:
            database_options.pop("pool", None)
        elif isinstance(database_options.get("pool"), dict):
            needed = _threads(options, conf) + settings.WEBHOOK_DISPATCH_CONCURRENCY + 1
            pool = database_options["pool"]
            pool["max_size"] = max(int(pool.get("max_size", 0)), needed)


def _threads(options: dict[str, Any], conf: Any) -> int:
    """The worker's concurrency: `--concurrency`, else CELERY_WORKER_CONCURRENCY, else (as
    Celery does, also for `--concurrency=auto`) the number of CPUs."""
    for value in (options.get("concurrency"), getattr(conf, "worker_concurrency", None)):
        try:
            if value and int(value) > 0:
                return int(value)
        except (TypeError, ValueError):
            continue
    return os.cpu_count() or 1


@before_task_publish.connect
def _attach_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    from commerce_project.context import current_request_id

    if headers is not None:
        headers.setdefault(_REQUEST_ID_HEADER, current_request_id.get())


@task_prerun.connect
def _restore_request_id(task: Task | None = None, **_: Any) -> None:
    from commerce_project.context import current_request_id, new_request_id

    request_id = getattr(task.request, _REQUEST_ID_HEADER, None) if task else None
    current_request_id.set(request_id if request_id and request_id != "-" else new_request_id())


@task_postrun.connect
def _clear_request_id(**_: Any) -> None:
    from commerce_project.context import current_request_id

    current_request_id.set("-")


def _drop_broker_connections() -> None:
    """Forget the app's broker connection pool and producer pool (as after a fork), so the
    next publish connects to the broker configured then. The producer pools are kombu's
    process-wide ones, keyed by broker URL, and stay open for the next switch back."""
    app._after_fork()  # type: ignore[attr-defined]  # (no public way)
