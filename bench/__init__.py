"""The benchmark suite: `make bench`, or `python -m bench [--only NAME]`.

Every number is compared with a baseline measured in the same run, on the same machine, in
turns with it, and reported as a ratio (times better than the baseline: >1 is better, for
throughput and latency alike). Speed claims live here, never as timing assertions in tests.

Writing a benchmark
-------------------
A module `bench/bench_<topic>.py` exposes `BENCHMARKS`: a list of callables taking no
arguments and returning a list of result dicts (`result()` or `compared()` build them). The
runner (bench/__main__.py) has already set Django up against the benchmark database
`commerce_bench` (migrated, DEBUG off, freely wiped by benchmarks) when they run.

- In-process measurements: `in_turns(*runs)` runs each callable (returning operations per
  second) once per round for ROUNDS
  rounds, alternating the order, and returns the rates of every round (`rate_of()` and
  `repeated()` adapt a callable counting operations, or one operation); `compared()` turns
  two such lists into a result: the median of the per-round ratios, and their range.
- HTTP measurements: bench/http.py (gunicorn with production-like settings serving the
  project plus the two baselines of bench/urls.py, and a multi-process load generator);
  `bench.http.compare()` returns the same per-round rates, so `compared()` reports them.
- Fixtures shared by modules: bench/fixtures.py (users with API tokens, stocked products).

Knobs (environment variables; the defaults are the sizes the issues ask for)
---------------------------------------------------------------------------
BENCH_ROUNDS                rounds per comparison, each side once per round (7)
BENCH_SECONDS               seconds of HTTP load per side and round (1.5)
BENCH_GUNICORN_WORKERS      gunicorn workers (2, as the image runs it)
BENCH_GUNICORN_THREADS      gunicorn threads per worker (4, as the image runs it)
BENCH_LOAD_PROCESSES        load generator processes (2)
BENCH_LOAD_THREADS          keep-alive connections per load generator process (4)
BENCH_ORDERS                background orders under the order list (100,000)
BENCH_REBUILD_EVENTS        events replayed by the projection rebuild (200,000)
BENCH_RESERVATION_WORKERS   concurrent reservation workers (4)
BENCH_RESERVATION_SECONDS   seconds per side and round of the reservation race (1)
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

Result = dict[str, Any]
Benchmark = Callable[[], list[Result]]

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))


def rate_of(run: Callable[[], int]) -> Callable[[], float]:
    """Adapts a run that returns how many operations it did into one returning ops/s."""

    def rate() -> float:
        started = time.perf_counter()
        done = run()
        return done / (time.perf_counter() - started)

    return rate


def repeated(operation: Callable[[int], object], times: int) -> Callable[[], float]:
    """A run whose rate is that of calling operation(0), ..., operation(times - 1)."""

    def run() -> int:
        for n in range(times):
            operation(n)
        return times

    return rate_of(run)


def in_turns(*runs: Callable[[], float], rounds: int = ROUNDS) -> list[list[float]]:
    """Each run's rate in every round. The runs take turns, in reverse order every other
    round, so that a drift in the machine's load reaches all of them alike."""
    rates: list[list[float]] = [[] for _ in runs]
    for number in range(rounds):
        order = list(enumerate(runs))
        if number % 2:
            order.reverse()
        for index, run in order:
            rates[index].append(run())
    return rates


def result(
    name: str,
    value: float,
    unit: str,
    baseline: str,
    baseline_value: float,
    *,
    baseline_unit: str | None = None,
    ratio: float | None = None,
    ratio_range: tuple[float, float] | None = None,
    lower_is_better: bool = False,
    goal: str | None = None,
    goal_met: bool | None = None,
) -> Result:
    """One row of the table. `ratio` defaults to value / baseline_value (the inverse when
    lower is better), so that above 1 always means better than the baseline."""
    if ratio is None:
        ratio = baseline_value / value if lower_is_better else value / baseline_value
    row: Result = {
        "name": name,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_value": baseline_value,
        "ratio": ratio,
    }
    if baseline_unit is not None:
        row["baseline_unit"] = baseline_unit
    if ratio_range is not None:
        row["ratio_range"] = ratio_range
    if goal is not None:
        row["goal"] = goal
        row["goal_met"] = bool(goal_met)
    return row


def compared(
    name: str,
    ours: Sequence[float],
    theirs: Sequence[float],
    *,
    unit: str,
    baseline: str,
    baseline_unit: str | None = None,
    per_op: bool = False,
    goal_ratio: float | None = None,
    goal: str | None = None,
    goal_met: bool | None = None,
) -> Result:
    """A result from per-round rates (ops/s) of ours and of the baseline, taken in turns:
    the ratio is the median of the per-round ratios (a round compares two measurements
    taken seconds apart, and the median shrugs off the rounds another process disturbed),
    shown with its range; value and baseline are each side's median. `per_op` shows the
    time per operation in µs instead of the rate (the ratio stays the same); `goal_ratio`
    states the goal as a minimum ratio."""
    per_round = [o / t for o, t in zip(ours, theirs, strict=True)]
    ratio = statistics.median(per_round)
    if goal_ratio is not None:
        goal = f">= {goal_ratio:g}x"
        goal_met = ratio >= goal_ratio
    value, baseline_value = statistics.median(ours), statistics.median(theirs)
    if per_op:
        value, baseline_value = 1e6 / value, 1e6 / baseline_value
    return result(
        name,
        value,
        unit,
        baseline,
        baseline_value,
        baseline_unit=baseline_unit,
        ratio=ratio,
        ratio_range=(min(per_round), max(per_round)) if len(per_round) > 1 else None,
        goal=goal,
        goal_met=goal_met,
    )
