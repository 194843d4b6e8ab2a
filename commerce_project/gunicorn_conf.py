"""gunicorn settings of the web process (`gunicorn -c python:commerce_project.gunicorn_conf`,
as the container image runs it; command-line options still win).

- Logs: the access log and gunicorn's own lines in the application's format
  (LOG_FORMAT, JSON in production), access lines carrying request id and trace id.
- Metrics: with PROMETHEUS_MULTIPROC_DIR set, the directory is emptied when the master
  starts (files of a previous run would be summed in) and a worker that exits is marked
  dead, so the live-only samples of its pid are dropped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from commerce_project.log_formats import JSON_LOG_FORMATTER, TEXT_LOG_FORMATTER

_production = os.environ.get("DJANGO_ENV") == "production"
_log_format = os.environ.get("LOG_FORMAT") or ("json" if _production else "text")
_log_level = os.environ.get("LOG_LEVEL", "INFO")

logger_class = "commerce_project.gunicorn_logging.StructuredAccessLogger"
accesslog = "-"
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "commerce_project.gunicorn_logging.ContextDefaults"}},
    "formatters": {"text": TEXT_LOG_FORMATTER, "json": JSON_LOG_FORMATTER},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": _log_format,
            "filters": ["context"],
            "stream": "ext://sys.stderr",
        },
    },
    "root": {"level": _log_level, "handlers": ["console"]},
    "loggers": {
        # Not propagated: Django's LOGGING gives the root logger a handler of its own in
        # every worker, which would print each line twice.
        "gunicorn.error": {"level": _log_level, "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}


def _multiprocess_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def on_starting(server: Any) -> None:
    directory = _multiprocess_dir()
    if directory is not None:
        # The files, not the directory: it may be a mounted volume.
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    if _multiprocess_dir() is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
