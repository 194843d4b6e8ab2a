"""Pure rules: backoff, and definitions that cannot work."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from sagas.domain import (
    RetryPolicy,
    SagaDefinition,
    SagaStatus,
    Step,
    StepContext,
    StepOutcome,
    Succeeded,
    decide,
    start_state,
)

POLICY = RetryPolicy(
    max_attempts=5,
    base_delay=timedelta(seconds=1),
    max_delay=timedelta(seconds=10),
    jitter=0.0,
)


def noop(ctx: StepContext) -> None:
    return None


@pytest.mark.parametrize(
    ("attempt", "seconds"), [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (60, 10)]
)
def test_backoff_doubles_up_to_the_maximum(attempt: int, seconds: int) -> None:
    assert POLICY.delay(attempt) == timedelta(seconds=seconds)


def test_jitter_takes_off_at_most_its_share() -> None:
    # given
    policy = RetryPolicy(
        max_attempts=5, base_delay=timedelta(seconds=8), max_delay=timedelta(seconds=8), jitter=0.5
    )
    rng = random.Random(7)
    # when
    delays = [policy.delay(1, rng) for _ in range(200)]
    # then
    assert all(timedelta(seconds=4) <= delay <= timedelta(seconds=8) for delay in delays)
    assert len(set(delays)) > 100


@pytest.mark.parametrize(
    "build",
    [
        lambda: SagaDefinition(saga_type="empty", steps=()),
        lambda: SagaDefinition(saga_type="twice", steps=(Step("a", noop), Step("a", noop))),
        lambda: Step("undo-less", None),
        lambda: Step("loud", None, noop, best_effort=True),
        lambda: SagaDefinition(saga_type="idle", steps=(Step("a", None, noop),)),
        lambda: Step("both", noop, best_effort=True, must_complete=True),
        lambda: RetryPolicy(max_attempts=0, base_delay=timedelta(0), max_delay=timedelta(0)),
        lambda: RetryPolicy(
            max_attempts=1, base_delay=timedelta(0), max_delay=timedelta(0), jitter=2
        ),
    ],
)
def test_impossible_definitions_are_refused(build: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        build()  # type: ignore[operator]


def test_compensations_run_latest_first_and_skip_steps_without_one() -> None:
    definition = SagaDefinition(
        saga_type="t",
        steps=(Step("a", noop, noop), Step("b", noop), Step("c", noop, noop)),
    )
    assert definition.next_compensation(["a", "b", "c"], []) == definition.step("c")
    assert definition.next_compensation(["a", "b", "c"], ["c"]) == definition.step("a")
    assert definition.next_compensation(["a", "b", "c"], ["c", "a"]) is None


NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WITH_COMPENSATION_ONLY = SagaDefinition(
    saga_type="t",
    steps=(
        Step("confirmed", None, noop),
        Step("reserve", noop, noop),
        Step("promised", None, noop),
        Step("charge", noop),
    ),
)


def test_compensation_only_steps_count_as_completed_when_reached_without_a_run() -> None:
    # when
    started = start_state(WITH_COMPENSATION_ONLY, {}, NOW)
    after_reserve = decide(WITH_COMPENSATION_ONLY, started, Succeeded(data={}), NOW)
    # then
    assert (started.current_step, started.completed_steps) == ("reserve", ["confirmed"])
    assert after_reserve.log_outcome == StepOutcome.SUCCEEDED
    assert after_reserve.state.current_step == "charge"
    assert after_reserve.state.completed_steps == ["confirmed", "reserve", "promised"]
    assert after_reserve.state.status == SagaStatus.RUNNING


def test_compensation_only_steps_are_undone_like_any_other() -> None:
    definition = WITH_COMPENSATION_ONLY
    completed = ["confirmed", "reserve", "promised"]
    assert definition.next_compensation(completed, []) == definition.step("promised")
    assert definition.next_compensation(completed, ["promised", "reserve"]) == definition.step(
        "confirmed"
    )
