from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from commerce_project.api.request_id import RequestIdLogFilter
from commerce_project.context import current_request_id
from tests.production_logs import last_production_log_line

ROOT = Path(__file__).resolve().parents[2]


def test_openapi_schema_generates_without_warnings() -> None:
    # drf-spectacular's --fail-on-warn turns every schema warning into a non-zero exit
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            "/dev/null",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"DJANGO_SETTINGS_MODULE": "commerce_project.settings.test", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr


@pytest.mark.django_db
def test_schema_endpoint_and_offline_swagger(api_client: APIClient) -> None:
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert json.loads(schema.content)["openapi"].startswith("3.")
    docs = api_client.get("/api/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "drf_spectacular_sidecar" in page  # assets served by us, not a CDN
    assert "cdn.jsdelivr" not in page


def test_every_log_line_carries_the_request_id() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    token = current_request_id.set("req-42")
    try:
        RequestIdLogFilter().filter(record)
    finally:
        current_request_id.reset(token)
    assert record.request_id == "req-42"  # type: ignore[attr-defined]


def test_production_logs_are_json() -> None:
    code = (
        "import logging, django; django.setup(); "
        "from commerce_project.context import current_request_id; "
        "current_request_id.set('req-7'); logging.getLogger('probe').warning('hello')"
    )
    line, _ = last_production_log_line(code)
    assert line["message"] == "hello"
    assert line["request_id"] == "req-7"
    assert line["level"] == "WARNING"
