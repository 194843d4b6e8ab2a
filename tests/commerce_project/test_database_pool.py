"""The connection pool: on for web processes (and this test run), off in prefork Celery
workers, where Celery closes the database after every task and a pool must not cross a
fork, sized for the threads of a threaded worker; and a borrowed connection goes back to the
pool when a request ends."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from celery.concurrency import prefork, solo, thread
from django.conf import settings
from django.db import connection

from commerce_project.celery import _fit_the_worker_pool
from sagas import leases


def test_the_pool_is_on_without_persistent_connections_or_health_checks() -> None:
    database = settings.DATABASES["default"]
    assert database["OPTIONS"]["pool"]
    assert database["CONN_MAX_AGE"] == 0
    assert database["CONN_HEALTH_CHECKS"] is False


@pytest.fixture(autouse=True)
def _hung_steps_do_not_end_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook tells the lease keeper to end a threaded worker whose step hangs; undone
    after each test, so that nothing ends the test run."""
    monkeypatch.setattr(leases, "_end_process_when_a_step_hangs", False)


@pytest.mark.parametrize(
    ("pool_cls", "kept"),
    [
        (prefork.TaskPool, False),
        ("celery.concurrency.prefork:TaskPool", False),
        (solo.TaskPool, True),
        (thread.TaskPool, True),
    ],
)
def test_a_prefork_worker_runs_without_the_pool(
    monkeypatch: pytest.MonkeyPatch, pool_cls: object, kept: bool
) -> None:
    options = dict(settings.DATABASES["default"]["OPTIONS"])
    monkeypatch.setitem(settings.DATABASES["default"], "OPTIONS", options)
    # `celery worker --pool=…` hands the hook the class as the option "pool"
    _fit_the_worker_pool(instance=SimpleNamespace(pool_cls=None), options={"pool": pool_cls})
    assert ("pool" in options) is kept
    # and a pool that cannot kill a hung task ends the process when a saga step hangs
    assert leases._end_process_when_a_step_hangs is kept


@pytest.mark.parametrize("where", ["options", "conf"])
def test_a_threaded_worker_keeps_a_pool_large_enough_for_its_threads(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    # given: the pool as configured (8 by default), and a worker of 12 task threads, named
    # on the command line (options) or by CELERY_WORKER_CONCURRENCY (conf)
    options = {**settings.DATABASES["default"]["OPTIONS"]}
    options["pool"] = {**options["pool"], "max_size": 8}
    monkeypatch.setitem(settings.DATABASES["default"], "OPTIONS", options)
    worker = {"pool_cls": thread.TaskPool, "concurrency": 12}
    # when
    if where == "options":
        _fit_the_worker_pool(instance=SimpleNamespace(), options=worker)
    else:
        conf = SimpleNamespace(worker_concurrency=12)
        _fit_the_worker_pool(conf=conf, options={"pool_cls": thread.TaskPool})
    # then: every task thread, the webhook dispatcher's threads and the lease keeper fit
    assert options["pool"]["max_size"] == 12 + settings.WEBHOOK_DISPATCH_CONCURRENCY + 1


@pytest.mark.django_db(transaction=True)
def test_a_closed_connection_goes_back_to_the_pool_and_is_reused() -> None:
    # What Django does at the end of every request (close_old_connections: CONN_MAX_AGE 0).
    connection.ensure_connection()
    pool = connection.pool
    assert pool is not None
    opened = pool.get_stats().get("connections_num", 0)
    for _ in range(5):
        connection.ensure_connection()
        assert connection.connection is not None
        connection.close()
        assert connection.connection is None
    assert pool.get_stats().get("connections_num", 0) == opened  # no new connection
    assert pool.get_stats()["pool_available"] >= 1
