"""The web process's WSGI module: the objects loaded with the application are frozen, so the
cyclic garbage collector no longer walks them on every full collection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_loading_the_application_freezes_what_it_loaded() -> None:
    probe = (
        "import gc; before = gc.get_freeze_count(); import commerce_project.wsgi; "
        "print(before, gc.get_freeze_count())"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "commerce_project.settings.test"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    before, after = map(int, done.stdout.split())
    assert before == 0
    # Django and the project's apps: tens of thousands of objects
    assert after > 20_000
