"""The one HTTP harness of the benchmarks: a gunicorn server and a load generator.

The server (`server(kind)`, started once per run and kind, stopped at exit) is the
project's WSGI application under gunicorn with one of two worker kinds (SERVER_KINDS):
`gthread`, as the container image runs it (BENCH_GUNICORN_WORKERS x BENCH_GUNICORN_THREADS,
keep-alive 5 s), and `sync` (BENCH_GUNICORN_WORKERS single-threaded workers, one
connection per request: gunicorn's sync workers do not keep connections alive). It runs
with DJANGO_SETTINGS_MODULE=bench.settings (DEBUG off, throttling on with budgets a
benchmark cannot exhaust), bench/wsgi.py as application and bench/urls.py as URLconf: the
real API plus two baselines,

- BARE `/bench/bare/`: a bare DRF view returning a constant JSON body, without any
  middleware (bench/wsgi.py serves it through a Django handler of its own), authentication,
  permissions or throttling: what DRF alone costs, and the denominator of most HTTP ratios;
- BASELINE `/api/v1/bench/constant/` (GET and POST): the same body behind the project's full
  stack as an API endpoint gets it: every middleware an API token request runs, token
  authentication, IsAuthenticated, user throttling, the problem+json exception handling;
  the best any endpoint of this stack can do.

Baseline and measured endpoints are served by the same server, so the ratio between them is
what means something on any machine. Not mirrored from the image: access logging and
--max-requests (a recycled worker would spend part of a measurement importing Django).

The load generator (`load()`) forks BENCH_LOAD_PROCESSES processes of BENCH_LOAD_THREADS
threads, each thread with its own keep-alive connection and signed in as its own caller (a
real user has a throttle history of their own), and counts the operations completed in
BENCH_SECONDS. Any unexpected status stops the run with an error: a benchmark never times
failures. `compare()` alternates a measured and a baseline operation for ROUNDS rounds.

Use from a bench module (the runner has set Django up):

    from bench.measure import Result, compared
    from bench.fixtures import user_tokens
    from bench.http import BASELINE, CONNECTIONS, Caller, Client, compare, constant_get

    def bench_detail() -> list[Result]:
        callers = [Caller(token) for token in user_tokens("bench-x", CONNECTIONS)]

        def detail(client: Client, n: int) -> None:  # one operation, n-th of its thread
            client.call("GET", "/api/v1/...")        # raises unless the status is 200

        ours, theirs = compare(detail, constant_get, callers)
        return [compared("x: GET detail", ours, theirs, unit="req/s", baseline=BASELINE,
                         goal_ratio=0.6)]

    BENCHMARKS = [bench_detail]

An operation may make several requests (compare it with a baseline operation making as
many, see bench_orders' create + confirm); `Caller.context` carries per-caller data (a cart
path, an order path); `Client(caller)` as a context manager makes setup requests
(`call()` for the body as bytes, `json()` for it decoded, `expect=` another status).
"""

from __future__ import annotations

import atexit
import http.client
import json
import multiprocessing
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.measure import ROUNDS, Result, compared, in_turns

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", "2"))
GUNICORN_THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", "4"))
LOAD_PROCESSES = int(os.environ.get("BENCH_LOAD_PROCESSES", "2"))
LOAD_THREADS = int(os.environ.get("BENCH_LOAD_THREADS", "4"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "1.5"))
# The gunicorn worker kinds every HTTP row is measured with (comma-separated).
SERVER_KINDS = tuple(os.environ.get("BENCH_SERVER_KINDS", "sync,gthread").split(","))
CONNECTIONS = LOAD_PROCESSES * LOAD_THREADS
WARM_UP_SECONDS = 0.5

BASELINE = "constant JSON view, full stack"
BARE = "bare DRF view (no middleware, no auth, no throttling)"


@dataclass(frozen=True)
class Server:
    port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn on port {port} did not come up")


def _worker_options(kind: str) -> list[str]:
    if kind == "gthread":
        return [f"--threads={GUNICORN_THREADS}", "--worker-class=gthread", "--keep-alive=5"]
    if kind == "sync":
        # More than one thread would make gunicorn switch to gthread.
        return ["--threads=1", "--worker-class=sync"]
    raise ValueError(f"unknown gunicorn worker kind {kind!r} (sync or gthread)")


@cache
def server(kind: str = "gthread", extra_env: tuple[tuple[str, str], ...] = ()) -> Server:
    """The benchmark server with `kind` workers, started on first use and stopped when the
    run ends. It uses the database and Redis of this process's environment (the runner's
    bench database). `extra_env` starts another one with these variables set (one server
    per distinct set), e.g. to compare the same endpoint with a feature on and off."""
    port = _free_port()
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "bench.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            f"--workers={GUNICORN_WORKERS}",
            *_worker_options(kind),
            "--timeout=30",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DEBUG": "false",
            **dict(extra_env),
        },
    )
    try:
        _wait_until_up(port, process)
    except BaseException:
        process.kill()
        raise
    started = Server(port, process)
    atexit.register(started.stop)
    return started


@dataclass(frozen=True)
class Caller:
    """Who a load thread is: an API token (None: anonymous) and data of its own."""

    token: str | None
    context: Mapping[str, Any] = field(default_factory=dict)


class UnexpectedStatus(RuntimeError):
    pass


class Client:
    """One keep-alive connection to the benchmark server, signed in as `caller`."""

    def __init__(self, caller: Caller, port: int | None = None) -> None:
        self.caller = caller
        self.context = caller.context
        self._headers = {"Accept": "application/json"}
        if caller.token:
            self._headers["Authorization"] = f"Token {caller.token}"
        self._conn = http.client.HTTPConnection(
            "127.0.0.1", port if port is not None else server().port, timeout=30
        )

    def call(self, method: str, path: str, body: Any = None, *, expect: int = 200) -> bytes:
        """The response body; UnexpectedStatus unless the status is `expect`."""
        headers = self._headers
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers = {**headers, "Content-Type": "application/json"}
        try:
            self._conn.request(method, path, body=payload, headers=headers)
            response = self._conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self._conn.close()
            raise
        if response.status != expect:
            raise UnexpectedStatus(
                f"{method} {path}: expected {expect}, got {response.status}: {data[:300]!r}"
            )
        return data

    def json(self, method: str, path: str, body: Any = None, *, expect: int = 200) -> Any:
        return json.loads(self.call(method, path, body, expect=expect))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


Operation = Callable[[Client, int], None]


def constant_get(client: Client, n: int) -> None:
    client.call("GET", "/api/v1/bench/constant/")


def constant_post(client: Client, n: int) -> None:
    client.call("POST", "/api/v1/bench/constant/", {"n": n})


def bare_get(client: Client, n: int) -> None:
    client.call("GET", "/bench/bare/")


def _load_process(
    port: int,
    operation: Operation,
    callers: Sequence[Caller],
    first: int,
    seconds: float,
    out: multiprocessing.Queue[tuple[float, str | None]],
) -> None:
    rates = [0.0] * LOAD_THREADS
    errors: list[str] = []
    failed = threading.Event()

    def run(index: int) -> None:
        caller = callers[(first + index) % len(callers)]
        try:
            with Client(caller, port) as client:
                done = 0
                started = time.perf_counter()
                stop_at = started + seconds
                while time.perf_counter() < stop_at and not failed.is_set():
                    operation(client, done)
                    done += 1
                rates[index] = done / (time.perf_counter() - started)
        except Exception as exc:  # reported to the parent, which raises it
            errors.append(f"{type(exc).__name__}: {exc}")
            failed.set()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(LOAD_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put((sum(rates), errors[0] if errors else None))


def load(
    operation: Operation,
    callers: Sequence[Caller],
    seconds: float = SECONDS,
    *,
    kind: str = "gthread",
    port: int | None = None,
) -> float:
    """Operations per second of CONNECTIONS concurrent keep-alive connections running
    `operation` for `seconds` against `port` (the `kind` benchmark server by default);
    thread i of the load is `callers[i % len(callers)]`."""
    port = port if port is not None else server(kind).port
    context = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[tuple[float, str | None]] = context.Queue()
    processes = [
        context.Process(
            target=_load_process,
            args=(port, operation, callers, p * LOAD_THREADS, seconds, out),
        )
        for p in range(LOAD_PROCESSES)
    ]
    for process in processes:
        process.start()
    total, errors = 0.0, []
    try:
        for _ in processes:
            rate, error = out.get(timeout=seconds + 120)
            total += rate
            if error:
                errors.append(error)
    except queue.Empty:
        errors.append("a load process did not report")
    for process in processes:
        process.join(timeout=30)
    if errors:
        raise RuntimeError(f"load failed: {errors[0]}")
    return total


def compare(
    measured: Operation,
    baseline: Operation,
    callers: Sequence[Caller],
    *,
    rounds: int = ROUNDS,
    seconds: float = SECONDS,
    kind: str = "gthread",
) -> tuple[list[float], list[float]]:
    """Per-round operations per second of `measured` and of `baseline` on the `kind`
    server, in turns (see bench.in_turns), after a short unmeasured warm-up of both."""
    load(baseline, callers, WARM_UP_SECONDS, kind=kind)
    load(measured, callers, WARM_UP_SECONDS, kind=kind)
    ours, theirs = in_turns(
        lambda: load(measured, callers, seconds, kind=kind),
        lambda: load(baseline, callers, seconds, kind=kind),
        rounds=rounds,
    )
    return ours, theirs


def compared_on_each_kind(
    name: str,
    measured: Operation,
    baseline: Operation,
    callers: Sequence[Caller],
    *,
    unit: str = "req/s",
    baseline_name: str = BARE,
    baseline_unit: str | None = None,
    goal_ratio: float | None = None,
) -> list[Result]:
    """One row per server kind (SERVER_KINDS): `measured` against `baseline` (by default
    the bare DRF view) on the same server, in turns."""
    rows = []
    for kind in SERVER_KINDS:
        ours, theirs = compare(measured, baseline, callers, kind=kind)
        rows.append(
            compared(
                f"{name} [{kind}]",
                ours,
                theirs,
                unit=unit,
                baseline=baseline_name,
                baseline_unit=baseline_unit,
                goal_ratio=goal_ratio,
            )
        )
    return rows
