"""The connection pool: on for web processes (and this test run), off in prefork Celery
workers, where Celery closes the database after every task and a pool must not cross a
fork; and a borrowed connection goes back to the pool when a request ends."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from celery.concurrency import prefork, solo, thread
from django.conf import settings
from django.db import connection

from commerce_project.celery import _no_database_pool_in_forked_workers


def test_the_pool_is_on_without_persistent_connections_or_health_checks() -> None:
    database = settings.DATABASES["default"]
    assert database["OPTIONS"]["pool"]
    assert database["CONN_MAX_AGE"] == 0
    assert database["CONN_HEALTH_CHECKS"] is False


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
    _no_database_pool_in_forked_workers(instance=SimpleNamespace(pool_cls=pool_cls))
    assert ("pool" in options) is kept


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
