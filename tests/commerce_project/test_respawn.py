"""`python -m commerce_project.respawn`, which keeps `make run`'s worker and beat running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from commerce_project.respawn import respawn


def script(tmp_path: Path, body: str) -> list[str]:
    """A command that counts its runs in tmp_path/runs and then does `body`."""
    code = (
        "import pathlib, sys\n"
        f"runs = pathlib.Path({str(tmp_path / 'runs')!r})\n"
        "runs.write_text(str(int(runs.read_text() or 0) + 1) if runs.exists() else '1')\n"
        "n = int(runs.read_text())\n" + body
    )
    return [sys.executable, "-c", code]


def runs(tmp_path: Path) -> int:
    return int((tmp_path / "runs").read_text())


def test_a_command_that_dies_after_running_a_while_is_started_again(tmp_path: Path) -> None:
    # dies twice, then stops cleanly
    command = script(tmp_path, "sys.exit(1 if n < 3 else 0)")
    assert respawn(command, min_uptime=0, delay=0) == 0
    assert runs(tmp_path) == 3


def test_a_command_that_fails_at_start_is_not_restarted(tmp_path: Path) -> None:
    command = script(tmp_path, "sys.exit(3)")
    assert respawn(command, min_uptime=60, delay=0) == 3
    assert runs(tmp_path) == 1


def test_sigterm_to_the_process_group_stops_both(tmp_path: Path) -> None:
    # given: as honcho runs it, in a process group of its own
    command = script(tmp_path, "import time; time.sleep(60)")
    process = subprocess.Popen(
        [sys.executable, "-m", "commerce_project.respawn", *command], start_new_session=True
    )
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "runs").exists():
            assert process.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # when: honcho's terminate, os.killpg on the group (never a shell `kill -PID`: a
        # parsing slip there turns into "every process")
        group = os.getpgid(process.pid)
        assert group == process.pid > 1
        os.killpg(group, signal.SIGTERM)
        # then: the command died of the signal and respawn did not start it again
        assert process.wait(timeout=10) == 128 + signal.SIGTERM
        assert runs(tmp_path) == 1
    finally:
        if process.poll() is None:
            process.kill()
