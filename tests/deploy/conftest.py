"""Fixtures for the deployment tests: processes started the way the image starts them, with
production settings and nothing from a developer's .env."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from tests.deploy.deployment_files import ROOT, image_env, k8s_one, runtime_stage


def production_env(variables: Mapping[str, str]) -> dict[str, str]:
    """A clean environment holding only `variables` and what a process needs to start: the
    test run's own variables (DATABASE_URL and friends) do not leak in."""
    venv_bin = str(Path(sys.executable).parent)
    return {
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "ENV_FILE": "",  # the image never holds a .env (.dockerignore)
        **variables,
    }


def run_manage_py(variables: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=production_env(variables),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def secret_key() -> str:
    return secrets.token_urlsafe(48)  # 64 characters


def _database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    return f"postgres://{credentials}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    port: int
    env: dict[str, str]

    def get(self, path: str, host: str) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", headers={"Host": host}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


@pytest.fixture(scope="module")
def production_server(django_db_setup: None) -> Iterator[Server]:
    """The image's CMD, run as-is (gunicorn through `sh -c`) with the image's ENV and the
    Kubernetes ConfigMap, pointed at the test database and the test run's Redis."""
    port = _free_port()
    env = production_env(
        {
            **image_env(),
            **k8s_one("ConfigMap", "commerce-config")["data"],
            "SECRET_KEY": secret_key(),
            "DATABASE_URL": _database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_RESULT_BACKEND": settings.CELERY_RESULT_BACKEND,
            "PORT": str(port),
            "GUNICORN_WORKERS": "1",
        }
    )
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            list(runtime_stage().cmd), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_until_listening(process, port, log)
            yield Server(port=port, env=env)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            output = log.read().decode(errors="replace")
            pytest.fail(f"the image's CMD exited with {process.returncode}:\n{output}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail("the image's CMD did not listen on $PORT within 30 s")
