"""HTTP load for benchmarks: a gunicorn server started with bench.settings, and a load
generator in separate processes (keep-alive connections, fixed duration) that reports
requests/s and latency percentiles. Same server settings for the baseline and the measured
endpoint, so the ratio between them is what means something on any machine."""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", "2"))
LOAD_PROCESSES = int(os.environ.get("BENCH_LOAD_PROCESSES", "2"))
LOAD_THREADS = int(os.environ.get("BENCH_LOAD_THREADS", "4"))
DURATION = float(os.environ.get("BENCH_DURATION", "5"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Server:
    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def served(workers: int = GUNICORN_WORKERS) -> Iterator[Server]:
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "commerce_project.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            f"--workers={workers}",
            "--worker-class=sync",
            "--keep-alive=30",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start")
        yield Server(port)
    finally:
        process.terminate()
        process.wait(timeout=15)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None = None


RequestFactory = Callable[[int], Request]  # called with a running counter


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _worker(
    port: int, factory: RequestFactory, seed: int, duration: float, threads: int, out: Any
) -> None:
    import threading

    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def loop(thread_index: int) -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        counter = seed * 1_000_000 + thread_index * 100_000
        mine: list[float] = []
        failed = 0
        while time.monotonic() < stop_at:
            request = factory(counter)
            counter += 1
            body = json.dumps(request.body) if request.body is not None else None
            headers = {"Content-Type": "application/json", **request.headers}
            started = time.perf_counter()
            try:
                conn.request(request.method, request.path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    failed += 1
            except OSError:
                failed += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)
            errors += failed

    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((latencies, errors))


def load(
    server: Server,
    factory: RequestFactory,
    *,
    duration: float = DURATION,
    processes: int = LOAD_PROCESSES,
    threads: int = LOAD_THREADS,
) -> LoadResult:
    """Runs `factory`'s requests against the server from several processes for `duration`."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(server.port, factory, i, duration, threads, queue))
        for i in range(processes)
    ]
    started = time.monotonic()
    for w in workers:
        w.start()
    latencies: list[float] = []
    errors = 0
    for _ in workers:
        part, failed = queue.get()
        latencies.extend(part)
        errors += failed
    for w in workers:
        w.join()
    seconds = time.monotonic() - started
    latencies.sort()
    if not latencies:
        return LoadResult(0, errors, seconds, 0.0, 0.0)
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))]
    return LoadResult(
        requests=len(latencies),
        errors=errors,
        seconds=seconds,
        p50_ms=statistics.median(latencies) * 1000,
        p95_ms=p95 * 1000,
    )
