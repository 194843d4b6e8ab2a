"""Every log line names the trace it was written in, beside the request id."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider

from commerce_project.api.request_id import RequestIdLogFilter

ROOT = Path(__file__).resolve().parents[2]


def _filtered(record: logging.LogRecord) -> logging.LogRecord:
    assert RequestIdLogFilter().filter(record)
    return record


def _record() -> logging.LogRecord:
    return logging.LogRecord("probe", logging.INFO, __file__, 1, "hello", None, None)


def test_a_line_inside_a_span_carries_its_trace_id() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        record = _filtered(_record())
    assert record.trace_id == format(span.get_span_context().trace_id, "032x")  # type: ignore[attr-defined]


def test_a_line_outside_any_trace_says_so() -> None:
    assert _filtered(_record()).trace_id == "-"  # type: ignore[attr-defined]


def test_production_json_lines_have_the_trace_id_field() -> None:
    code = (
        "import logging, django; django.setup(); "
        "from opentelemetry.sdk.trace import TracerProvider; "
        "tracer = TracerProvider().get_tracer('t'); "
        "span = tracer.start_span('s'); "
        "from opentelemetry import trace; "
        "ctx = trace.use_span(span); ctx.__enter__(); "
        "print(format(span.get_span_context().trace_id, '032x')); "
        "logging.getLogger('probe').warning('hello')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            "DJANGO_SETTINGS_MODULE": "commerce_project.settings.base",
            "DJANGO_ENV": "production",
            "ENV_FILE": "",
            "SECRET_KEY": "s" * 64,
            "ALLOWED_HOSTS": "shop.example.com",
            "PATH": "/usr/bin:/bin",
        },
        check=False,
    )
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == "hello"
    assert line["trace_id"] == result.stdout.strip()
    assert line["request_id"] == "-"
