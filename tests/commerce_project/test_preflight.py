"""`make run` stops with one clear line when a service is down — no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_preflight(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "commerce_project.preflight"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=30,
        check=False,
    )


def test_unreachable_postgres_is_one_clear_line() -> None:
    result = run_preflight(DATABASE_URL="postgres://postgres@127.0.0.1:1/commerce")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "PostgreSQL is not reachable at 127.0.0.1:1" in lines[0]
    assert "pg_ctlcluster" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_unreachable_redis_is_one_clear_line() -> None:
    result = run_preflight(REDIS_URL="redis://127.0.0.1:1/0")
    assert result.returncode == 1
    assert "Redis is not reachable at 127.0.0.1:1 (REDIS_URL)" in result.stderr
    assert "Traceback" not in result.stderr


def test_make_run_stops_before_starting_anything_when_postgres_is_down() -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "seed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:1/commerce"},
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "PostgreSQL is not reachable at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr
