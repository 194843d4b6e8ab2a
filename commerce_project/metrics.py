"""Per-process Prometheus metrics: what one web or worker process saw happen.

Figures that are facts in PostgreSQL (orders by status, sagas, event counts, projection lag)
are not here: `operations.collector` reads them at scrape time, so they are exact however
many processes run. What is here is counted by the process that saw it, and adds up across
processes through prometheus-client's multiprocess mode: with `PROMETHEUS_MULTIPROC_DIR`
set, every process (gunicorn workers, Celery pool processes) writes its samples to files in
that directory and `/metrics` sums them. The directory must be emptied when the whole set of
processes starts (gunicorn's `on_starting` hook, `make run`, the container commands), and a
process that exits is marked dead (gunicorn's `child_exit`, Celery's
`worker_process_shutdown`) so its live-only samples are dropped.

prometheus-client picks its storage when it is first imported, from the process
environment; the `.env` file is read before that, so a variable set there counts too.
"""

from __future__ import annotations

import logging
import os

from commerce_project.envfile import read_env_file

read_env_file()
_MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
if not os.environ.get(_MULTIPROC_VARIABLE):
    # prometheus-client switches on the variable's presence: an empty value (as in
    # .env.example) means single-process mode, not "a directory named ''".
    os.environ.pop(_MULTIPROC_VARIABLE, None)
else:
    os.makedirs(os.environ[_MULTIPROC_VARIABLE], exist_ok=True)

from prometheus_client import Counter, Histogram  # noqa: E402

# Latency buckets for HTTP requests and saga steps (seconds).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def multiprocess_dir() -> str | None:
    """The directory the processes of this host share, None in single-process mode."""
    return os.environ.get(_MULTIPROC_VARIABLE) or None


http_requests = Counter(
    "commerce_http_requests",
    "HTTP requests answered, by route template (not the raw path), method and status.",
    ["route", "method", "status"],
)
http_request_duration = Histogram(
    "commerce_http_request_duration_seconds",
    "Time from the request entering Django's middleware to the response leaving it.",
    ["route", "method"],
    buckets=_LATENCY_BUCKETS,
)
saga_step_duration = Histogram(
    "commerce_saga_step_duration_seconds",
    "Time a saga step's action (step) or compensation (step:compensate) took, by outcome.",
    ["saga_type", "step", "outcome"],
    buckets=_LATENCY_BUCKETS,
)
stock_reservation_conflicts = Counter(
    "commerce_stock_reservation_conflicts",
    "Reservations refused: out_of_stock (a line was short) or unknown_product.",
    ["reason"],
)
command_conflict_retries = Counter(
    "commerce_command_conflict_retries",
    "Commands run again after a ConcurrencyError (another writer appended first).",
    ["command"],
)
idempotent_replays = Counter(
    "commerce_idempotent_replays",
    "Requests answered from a stored response because their Idempotency-Key was seen.",
)
redis_fail_open = Counter(
    "commerce_redis_fail_open",
    "Times Redis was unreachable and the process went on without it (cache, stock cache, "
    "catalogue cache, broker publish).",
    ["component"],
)


class RedisFailOpenLogCounter(logging.Filter):
    """Counts the Redis errors django-redis ignored (caches and throttling fail open), which
    it reports only as log records on DJANGO_REDIS_LOGGER; the record is kept."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            redis_fail_open.labels("cache").inc()
        return True
