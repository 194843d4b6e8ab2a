"""Run a snippet in a fresh process with production settings and read the JSON log line it
wrote last: how the tests see what a production process logs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def last_production_log_line(code: str) -> tuple[dict[str, Any], str]:
    """(the last log line, parsed, and what the snippet printed on stdout)."""
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
    return json.loads(result.stderr.strip().splitlines()[-1]), result.stdout
