"""Per-process metrics of Celery workers.

On one host, workers write into the PROMETHEUS_MULTIPROC_DIR they share with the web
processes and the web's `/metrics` sums everything. A worker in a pod of its own serves its
pool's figures itself on WORKER_METRICS_PORT (the main process sums its pool processes'
files). A pool process that exits is marked dead, like a gunicorn worker.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery.signals import worker_init, worker_process_shutdown
from django.conf import settings
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client import multiprocess as prometheus_multiprocess

from commerce_project.metrics import multiprocess_dir

logger = logging.getLogger(__name__)


@worker_init.connect
def _serve_worker_metrics(**_: Any) -> None:
    port = settings.WORKER_METRICS_PORT
    if not port:
        return
    directory = multiprocess_dir()
    if directory is None:
        start_http_server(port)
    else:
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry, path=directory)
        start_http_server(port, registry=registry)
    logger.info("worker metrics on port %d", port)


@worker_process_shutdown.connect
def _forget_exited_pool_process(pid: int | None = None, **_: Any) -> None:
    if multiprocess_dir() is not None:
        prometheus_multiprocess.mark_process_dead(pid or os.getpid())
