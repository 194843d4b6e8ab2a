"""Run a command again when it dies: `python -m commerce_project.respawn <command> ...`.

For `make run` only (the Procfile's worker and beat). honcho stops every process of the
Procfile as soon as one exits, so a worker that dies (a bug, an OOM kill, a broker outage
that outlasts the worker's own reconnection) would stop the web server too. In containers
the orchestrator restarts the process instead (compose `restart: unless-stopped`, k8s).

- The command exits with a failure after it ran at least MIN_UPTIME seconds: it is started
  again after RESTART_DELAY seconds.
- It fails sooner (a start-up error: bad settings, a missing module): its exit code is ours,
  so the stack stops and shows the error instead of looping on it.
- It exits with 0 (it was asked to stop), or we receive SIGTERM/SIGINT: we exit when it has.
  The signal itself is not forwarded: the command runs in our process group, which is what
  honcho (`killpg`) and a terminal's Ctrl-C signal, so it gets it once, directly.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

MIN_UPTIME = 10.0
RESTART_DELAY = 2.0


def respawn(
    command: Sequence[str], *, min_uptime: float = MIN_UPTIME, delay: float = RESTART_DELAY
) -> int:
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            started = time.monotonic()
            returncode = subprocess.Popen(command).wait()  # a signal handler does not end it
            ran_for = time.monotonic() - started
            if stopping or returncode == 0 or ran_for < min_uptime:
                return returncode
            print(
                f"respawn: {command[0]} exited with {returncode} after {ran_for:.0f} s; "
                f"starting it again in {delay:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(delay)
            if stopping:
                return returncode
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: Sequence[str]) -> int:
    if not argv:
        print("usage: python -m commerce_project.respawn <command> [args...]", file=sys.stderr)
        return 2
    returncode = respawn(argv)
    return returncode if returncode >= 0 else 128 - returncode  # killed by a signal: 128+N


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
