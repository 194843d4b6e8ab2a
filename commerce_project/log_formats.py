"""The log line formats, shared by Django's LOGGING and gunicorn's logconfig_dict, so the
access log and the application's lines have one shape (JSON in production)."""

from __future__ import annotations

from typing import Any

TEXT_LOG_FORMATTER: dict[str, Any] = {
    "format": "%(asctime)s %(levelname)-7s [%(request_id)s %(trace_id)s] %(name)s: %(message)s",
}
JSON_LOG_FORMATTER: dict[str, Any] = {
    "()": "pythonjsonlogger.json.JsonFormatter",
    "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(trace_id)s",
    "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
}
