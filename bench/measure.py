"""Measuring and comparing: rates taken in turns with a baseline, and the `Result` rows of
the table (see bench/__init__.py for how a benchmark module uses them)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a (median) value and its unit."""

    value: float
    unit: str


@dataclass(frozen=True)
class Goal:
    text: str
    met: bool


@dataclass(frozen=True)
class Result:
    """One row of the table: ours against `baseline` (what it is compared with), and
    `ratio`, how many times better ours is (>1 is better, for throughput and latency alike),
    with the lowest and highest per-round ratio when there were rounds."""

    name: str
    ours: Side
    baseline: str
    theirs: Side
    ratio: float
    ratio_range: tuple[float, float] | None = None
    goal: Goal | None = None

    def row(self) -> str:
        """The markdown table row: | benchmark | result | baseline | ratio | goal |."""
        ratio = _ratio(self.ratio)
        if self.ratio_range is not None:
            low, high = self.ratio_range
            ratio += f" ({_ratio(low)} to {_ratio(high)})"
        goal = f"{self.goal.text}: {'met' if self.goal.met else 'missed'}" if self.goal else ""
        return (
            f"| {self.name} | {_number(self.ours.value)} {self.ours.unit} | {self.baseline}: "
            f"{_number(self.theirs.value)} {self.theirs.unit} | {ratio} | {goal} |"
        )


Benchmark = Callable[[], list[Result]]


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def _ratio(ratio: float) -> str:
    # Three decimals below 1, so 0.496x is not shown as a rounded 0.50x.
    return f"{ratio:.3f}x" if ratio < 1 else f"{ratio:.2f}x"


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


def measured(
    name: str,
    ours: Side,
    baseline: str,
    theirs: Side,
    *,
    lower_is_better: bool = False,
    goal: Goal | None = None,
) -> Result:
    """A result from one measurement of each side: the ratio is ours / theirs (the inverse
    when lower is better), so that above 1 always means better than the baseline."""
    ratio = theirs.value / ours.value if lower_is_better else ours.value / theirs.value
    return Result(name, ours, baseline, theirs, ratio, goal=goal)


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
    goal: Goal | None = None,
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
        goal = Goal(f">= {goal_ratio:g}x", ratio >= goal_ratio)
    value, baseline_value = statistics.median(ours), statistics.median(theirs)
    if per_op:
        value, baseline_value = 1e6 / value, 1e6 / baseline_value
    return Result(
        name,
        Side(value, unit),
        baseline,
        Side(baseline_value, baseline_unit or unit),
        ratio,
        ratio_range=(min(per_round), max(per_round)) if len(per_round) > 1 else None,
        goal=goal,
    )
