"""Every log line names the trace it was written in, beside the request id."""

from __future__ import annotations

import logging
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider

from commerce_project.api.request_id import RequestIdLogFilter
from tests.production_logs import last_production_log_line

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
    line, printed = last_production_log_line(code)
    assert line["message"] == "hello"
    assert line["trace_id"] == printed.strip()
    assert line["request_id"] == "-"
