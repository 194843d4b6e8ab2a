"""The web process as the image runs it: gunicorn with commerce_project.gunicorn_conf and two
workers sharing one PROMETHEUS_MULTIPROC_DIR. Request counts from both workers add up in
one scrape, and the access log is JSON in the application's shape with request and trace
ids."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.operations.otlp import OtlpReceiver
from tests.operations.scrape import value
from tests.sagas.worker import database_url

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 24


@dataclass
class Gunicorn:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    metrics_dir: Path

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
        # a fresh connection each time, so the requests spread over the workers
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", path, headers={"Connection": "close", **headers})
        response = conn.getresponse()
        body = response.read()
        conn.close()
        return response.status, dict(response.getheaders()), body

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                records.append(json.loads(line))
        return records


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as started:
        yield started


@pytest.fixture
def gunicorn(tmp_path: Path, receiver: OtlpReceiver) -> Iterator[Gunicorn]:
    port = _free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over from a previous run")
    log_path = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "commerce_project.settings.test",
        "DATABASE_URL": database_url(),
        "TEST_REDIS_URL": settings.REDIS_URL,
        "ENV_FILE": "",
        "LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "commerce_project.wsgi:application",
                "--config=python:commerce_project.gunicorn_conf",
                f"--bind=127.0.0.1:{port}",
                "--workers=2",
                "--threads=2",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Gunicorn(port, process, log_path, metrics_dir)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if server.get("/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


def _worker_pids(metrics_dir: Path) -> set[str]:
    return {
        m.group(1) for p in metrics_dir.glob("*.db") if (m := re.search(r"_(\d+)\.db$", p.name))
    }


def test_two_workers_add_up_and_log_json_access_lines(gunicorn: Gunicorn) -> None:
    # given a running gunicorn whose master emptied the metrics directory at start
    assert "999999" not in _worker_pids(gunicorn.metrics_dir)
    # when the service is asked REQUESTS times, each on a connection of its own
    for _ in range(REQUESTS):
        assert gunicorn.get("/healthz")[0] == 200
    status, _, body = gunicorn.get("/metrics")
    # then both workers write into the shared directory
    assert status == 200, body
    assert len(_worker_pids(gunicorn.metrics_dir)) == 2
    # and the scrape counts every request once, whichever worker answered it
    text = body.decode()
    healthz = {"route": "healthz", "method": "GET", "status": "200"}
    # (plus the one start-up probe that answered: the earlier attempts found no socket)
    assert value(text, "commerce_http_requests_total", healthz) == REQUESTS + 1


def test_access_lines_are_json_with_request_and_trace_ids(
    gunicorn: Gunicorn, receiver: OtlpReceiver
) -> None:
    # when a client sends its own request id
    status, headers, _ = gunicorn.get("/healthz", **{"X-Request-ID": "probe-access-log-1"})
    assert status == 200
    assert headers["X-Request-ID"] == "probe-access-log-1"
    # then gunicorn's access line is a JSON record in the application's shape
    deadline = time.monotonic() + 10
    lines: list[dict[str, Any]] = []
    while not lines and time.monotonic() < deadline:
        lines = [
            r
            for r in gunicorn.log_records()
            if r.get("logger") == "gunicorn.access" and r.get("request_id") == "probe-access-log-1"
        ]
        time.sleep(0.1)
    assert len(lines) == 1, gunicorn.log_path.read_text()[-3000:]
    line = lines[0]
    assert {"time", "level", "logger", "message", "request_id", "trace_id"} <= line.keys()
    assert line["message"] == "GET /healthz 200"
    assert line["status"] == 200
    assert line["method"] == "GET"
    # and its trace id is the one of the request's server span
    assert re.fullmatch(r"[0-9a-f]{32}", line["trace_id"])
    spans = receiver.wait_for(lambda spans: any(s.trace_id == line["trace_id"] for s in spans))
    assert any(s.name == "GET healthz" for s in spans if s.trace_id == line["trace_id"])
    # and gunicorn's own lines have the same shape
    own = [r for r in gunicorn.log_records() if r.get("logger") == "gunicorn.error"]
    assert own
    assert all(r["request_id"] == "-" for r in own)
