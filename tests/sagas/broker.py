"""A private `redis-server` for tests that take the broker away under a running worker.

`RedisServer(port)` runs `redis-server` on 127.0.0.1:port with no persistence (a restart
starts empty, as a broker that lost its data does), in a session of its own so that only
the test's signals reach it. `start()` waits until it answers PING; `kill()` is SIGKILL (no
goodbye to the clients: their sockets just die), `shutdown()` is a clean `SHUTDOWN NOSAVE`
(the clients see their connections closed); `start()` again restarts it on the same port.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

import redis

START_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    def __init__(self, *, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self._log = self.log_path.open("ab")
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited at start:\n{self.log()}")
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.05)
        finally:
            client.close()
        self.kill()
        raise RuntimeError(f"redis-server not answering after {START_TIMEOUT}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: the server vanishes; its clients' sockets are reset by the kernel."""
        self._stop(signal.SIGKILL)

    def shutdown(self) -> None:
        """A clean stop (SIGTERM, which redis-server handles as SHUTDOWN without saving)."""
        self._stop(signal.SIGTERM)

    def _stop(self, signum: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
