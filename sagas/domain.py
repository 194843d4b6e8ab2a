"""The saga model without I/O: definitions (ordered steps with retry policies and deadlines),
the errors a step may raise, and `decide`, the one function that turns a step's outcome into
the saga's next state. The engine (services.py) loads, claims, runs and stores; every rule
about what happens next lives here.
"""

from __future__ import annotations

import enum
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from django.conf import settings


class SagaStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    COMPENSATING = "COMPENSATING"
    COMPLETED = "COMPLETED"
    COMPENSATED = "COMPENSATED"
    FAILED = "FAILED"


ACTIVE_STATUSES = (SagaStatus.RUNNING, SagaStatus.COMPENSATING)


class StepKind(enum.StrEnum):
    ACTION = "ACTION"
    COMPENSATION = "COMPENSATION"


class StepOutcome(enum.StrEnum):
    STARTED = "STARTED"  # in flight (or its worker died: see ABANDONED)
    SUCCEEDED = "SUCCEEDED"
    RETRY = "RETRY"  # failed, another attempt is scheduled
    FAILED = "FAILED"  # failed for good (permanent, retries exhausted or deadline passed)
    ABANDONED = "ABANDONED"  # its worker lost the lease before reporting


# --- errors raised by step actions and compensations


class StepError(Exception):
    """`reason` is a stable snake_case code; the first failing step's reason is kept as the
    saga's failure reason and handed to compensations."""

    default_reason = "step_failed"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason


class TransientStepError(StepError):
    """Worth retrying: retried with backoff; when retries run out, handled as permanent."""

    default_reason = "retries_exhausted"


class PermanentStepError(StepError):
    """Will never succeed: the saga compensates now."""


DEADLINE_REASON = "timeout"
UNEXPECTED_ERROR_REASON = "unexpected_error"


# --- definitions


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: attempt n waits base_delay * 2**(n-1), at most max_delay, minus
    a random share of up to `jitter` (0..1) of it, so retries of many sagas spread out."""

    max_attempts: int
    base_delay: timedelta
    max_delay: timedelta
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> timedelta:
        exponent = min(max(attempt - 1, 0), 30)
        capped = min(self.base_delay * (2**exponent), self.max_delay)
        share = (rng or random).random() * self.jitter
        return capped * (1 - share)

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        return cls(
            max_attempts=settings.SAGA_RETRY_MAX_ATTEMPTS,
            base_delay=settings.SAGA_RETRY_BASE_DELAY,
            max_delay=settings.SAGA_RETRY_MAX_DELAY,
            jitter=settings.SAGA_RETRY_JITTER,
        )

    @classmethod
    def compensation_from_settings(cls) -> RetryPolicy:
        return replace(cls.from_settings(), max_attempts=settings.SAGA_COMPENSATION_MAX_ATTEMPTS)


@dataclass
class StepContext:
    """What a step sees. `data` is the saga's data; changes made to it (and a dict returned
    by the action) are saved when the step succeeds, and dropped when it fails."""

    saga_id: uuid.UUID
    saga_type: str
    correlation_id: str
    owner_id: uuid.UUID | None
    step: str
    kind: StepKind
    attempt: int
    data: dict[str, Any]
    failure_reason: str | None = None
    with_outcome: Callable[[], None] | None = None

    def commit_with_outcome(self, writes: Callable[[], None]) -> None:
        """Make `writes` (the step's last local writes, after any call to the outside world)
        part of the transaction that records the step's outcome, instead of a commit of
        their own before it: one commit that waits for the disk instead of two. What they
        raise becomes the step's outcome as if the step had raised it (TransientStepError,
        PermanentStepError; anything else is retried): that transaction is rolled back,
        their writes with it, and the failure is recorded in a new one."""
        self.with_outcome = writes

    @property
    def idempotency_key(self) -> str:
        """Stable across attempts, distinct for an action and its compensation."""
        if self.kind is StepKind.COMPENSATION:
            return f"{self.saga_id}:{self.step}:compensation"
        return f"{self.saga_id}:{self.step}"


StepFunction: TypeAlias = Callable[[StepContext], "Mapping[str, Any] | None"]
Lazy: TypeAlias = Callable[[], Any]


@dataclass(frozen=True)
class Step:
    """One step. `retry` and `deadline` may be values or zero-argument callables (read when
    the step runs, so they can come from settings); None means the SAGA_* defaults.
    `compensation=None`: nothing to undo. `best_effort=True`: a failure is recorded and the
    saga moves on; it never undoes the steps before (e.g. sending an email).
    `must_complete=True`: a step past the point of no return (e.g. paying money back): it is
    retried, and when it fails for good the saga waits in FAILED for staff instead of
    compensating; staff retry runs the step again.
    `action=None`: a compensation-only step, for something done before the saga reached it
    (e.g. the order confirmation that started the saga): it counts as completed when the saga
    gets there, without a run of its own, and its compensation runs when the saga is undone."""

    name: str
    action: StepFunction | None
    compensation: StepFunction | None = None
    retry: RetryPolicy | Callable[[], RetryPolicy] | None = None
    compensation_retry: RetryPolicy | Callable[[], RetryPolicy] | None = None
    deadline: timedelta | Callable[[], timedelta] | None = None
    best_effort: bool = False
    must_complete: bool = False

    def __post_init__(self) -> None:
        if self.best_effort and self.must_complete:
            raise ValueError(f"step {self.name!r} cannot be both best_effort and must_complete")
        if self.action is None and (
            self.compensation is None or self.best_effort or self.must_complete
        ):
            raise ValueError(
                f"step {self.name!r} without an action needs a compensation (and nothing else)"
            )

    def retry_policy(self) -> RetryPolicy:
        return _resolve(self.retry, RetryPolicy.from_settings)

    def compensation_retry_policy(self) -> RetryPolicy:
        return _resolve(self.compensation_retry, RetryPolicy.compensation_from_settings)

    def deadline_after(self) -> timedelta:
        return _resolve(self.deadline, lambda: settings.SAGA_STEP_DEADLINE)


def _resolve(value: Any, default: Callable[[], Any]) -> Any:
    if value is None:
        return default()
    return value() if callable(value) else value


@dataclass(frozen=True)
class SagaDefinition:
    saga_type: str
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError(f"saga {self.saga_type!r} has no steps")
        names = [step.name for step in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"saga {self.saga_type!r} has duplicate step names: {names}")
        if all(step.action is None for step in self.steps):
            raise ValueError(f"saga {self.saga_type!r} has no step with an action")

    @property
    def step_names(self) -> list[str]:
        return [step.name for step in self.steps]

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"saga {self.saga_type!r} has no step {name!r}")

    def next_step(self, name: str) -> Step | None:
        index = self.step_names.index(name)
        return self.steps[index + 1] if index + 1 < len(self.steps) else None

    def next_compensation(self, completed: list[str], compensated: list[str]) -> Step | None:
        """The latest completed step that has a compensation and has not been undone yet."""
        for name in reversed(completed):
            step = self.step(name)
            if step.compensation is not None and name not in compensated:
                return step
        return None


# --- state transitions


@dataclass(frozen=True)
class SagaState:
    """The part of a saga instance that `decide` reads and writes."""

    status: SagaStatus
    current_step: str
    attempts: int
    completed_steps: list[str]
    compensated_steps: list[str]
    failure_reason: str
    step_deadline_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> StepKind:
        if self.status == SagaStatus.COMPENSATING:
            return StepKind.COMPENSATION
        return StepKind.ACTION


@dataclass(frozen=True)
class Succeeded:
    data: dict[str, Any]
    # The step's writes that commit with its outcome (StepContext.commit_with_outcome).
    with_outcome: Callable[[], None] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Failed:
    """`transient` failures are retried; `deadline` marks a step that ran out of time."""

    error: str
    reason: str
    transient: bool = False
    deadline: bool = False


Outcome: TypeAlias = Succeeded | Failed


@dataclass(frozen=True)
class Decision:
    state: SagaState
    log_outcome: StepOutcome


def deadline_passed(state: SagaState, now: datetime) -> bool:
    return (
        state.status == SagaStatus.RUNNING
        and state.step_deadline_at is not None
        and now >= state.step_deadline_at
    )


def start_state(definition: SagaDefinition, data: dict[str, Any], now: datetime) -> SagaState:
    before = SagaState(
        status=SagaStatus.RUNNING,
        current_step="",
        attempts=0,
        completed_steps=[],
        compensated_steps=[],
        failure_reason="",
        step_deadline_at=None,
        next_attempt_at=now,
        last_error="",
        data=data,
    )
    return _enter(definition, definition.steps[0], before, now)


def decide(
    definition: SagaDefinition,
    state: SagaState,
    outcome: Outcome,
    now: datetime,
    rng: random.Random | None = None,
) -> Decision:
    """The state after the current step (attempt number `state.attempts`) had `outcome`."""
    step = definition.step(state.current_step)
    if state.status == SagaStatus.RUNNING:
        return _after_action(definition, step, state, outcome, now, rng)
    if state.status == SagaStatus.COMPENSATING:
        return _after_compensation(definition, step, state, outcome, now, rng)
    raise ValueError(f"a {state.status} saga runs no steps")


def _after_action(
    definition: SagaDefinition,
    step: Step,
    state: SagaState,
    outcome: Outcome,
    now: datetime,
    rng: random.Random | None,
) -> Decision:
    if isinstance(outcome, Succeeded):
        done = replace(state, completed_steps=[*state.completed_steps, step.name])
        moved = _move_on(definition, step, done, now)
        return Decision(replace(moved, data=outcome.data), StepOutcome.SUCCEEDED)
    policy = step.retry_policy()
    if (
        outcome.transient
        and not outcome.deadline
        and state.attempts < policy.max_attempts
        and not deadline_passed(state, now)
    ):
        retry_at = now + policy.delay(state.attempts, rng)
        if state.step_deadline_at is not None:
            # Wake up at the deadline at the latest, so it is noticed on time.
            retry_at = min(retry_at, state.step_deadline_at)
        return Decision(
            replace(state, next_attempt_at=retry_at, last_error=outcome.error), StepOutcome.RETRY
        )
    if step.best_effort:
        # Recorded in the step log and last_error, and nothing before it is undone.
        moved = _move_on(definition, step, state, now)
        return Decision(replace(moved, last_error=outcome.error), StepOutcome.FAILED)
    if step.must_complete:
        # Undoing is not an option past the point of no return: staff take over.
        stuck = replace(
            state,
            status=SagaStatus.FAILED,
            failure_reason=outcome.reason,
            last_error=outcome.error,
            next_attempt_at=None,
            step_deadline_at=None,
        )
        return Decision(stuck, StepOutcome.FAILED)
    compensating = replace(
        state,
        status=SagaStatus.COMPENSATING,
        failure_reason=outcome.reason,
        last_error=outcome.error,
        step_deadline_at=None,
    )
    return Decision(_next_compensation(definition, compensating, now), StepOutcome.FAILED)


def _after_compensation(
    definition: SagaDefinition,
    step: Step,
    state: SagaState,
    outcome: Outcome,
    now: datetime,
    rng: random.Random | None,
) -> Decision:
    if isinstance(outcome, Succeeded):
        undone = replace(
            state, compensated_steps=[*state.compensated_steps, step.name], data=outcome.data
        )
        return Decision(_next_compensation(definition, undone, now), StepOutcome.SUCCEEDED)
    policy = step.compensation_retry_policy()
    if outcome.transient and state.attempts < policy.max_attempts:
        retry_at = now + policy.delay(state.attempts, rng)
        return Decision(
            replace(state, next_attempt_at=retry_at, last_error=outcome.error), StepOutcome.RETRY
        )
    # A compensation that cannot pass leaves the saga to staff (retry / compensate / resolve).
    failed = replace(
        state, status=SagaStatus.FAILED, next_attempt_at=None, last_error=outcome.error
    )
    return Decision(failed, StepOutcome.FAILED)


def _move_on(definition: SagaDefinition, step: Step, state: SagaState, now: datetime) -> SagaState:
    return _enter(definition, definition.next_step(step.name), state, now)


def _enter(
    definition: SagaDefinition, step: Step | None, state: SagaState, now: datetime
) -> SagaState:
    """Make `step` current; compensation-only steps on the way count as completed at once."""
    completed = list(state.completed_steps)
    while step is not None and step.action is None:
        completed.append(step.name)
        step = definition.next_step(step.name)
    if step is None:
        return replace(
            state,
            status=SagaStatus.COMPLETED,
            current_step="",
            completed_steps=completed,
            attempts=0,
            step_deadline_at=None,
            next_attempt_at=None,
        )
    return replace(
        state,
        current_step=step.name,
        completed_steps=completed,
        attempts=0,
        step_deadline_at=now + step.deadline_after(),
        next_attempt_at=now,
    )


def _next_compensation(definition: SagaDefinition, state: SagaState, now: datetime) -> SagaState:
    target = definition.next_compensation(state.completed_steps, state.compensated_steps)
    if target is None:
        return replace(
            state,
            status=SagaStatus.COMPENSATED,
            current_step="",
            attempts=0,
            next_attempt_at=None,
        )
    return replace(
        state,
        status=SagaStatus.COMPENSATING,
        current_step=target.name,
        attempts=0,
        next_attempt_at=now,
    )


def failed_in_action(state: SagaState) -> bool:
    """A FAILED saga stopped in a `must_complete` action (not in a compensation): its current
    step never completed, whereas a compensation only ever runs for a completed step."""
    return state.status == SagaStatus.FAILED and state.current_step not in state.completed_steps


def retry_state(definition: SagaDefinition, state: SagaState, now: datetime) -> SagaState:
    """Staff retry of a FAILED saga: the failing step (or compensation) runs again with fresh
    attempts (and, for an action, a fresh deadline)."""
    if failed_in_action(state):
        step = definition.step(state.current_step)
        return replace(
            state,
            status=SagaStatus.RUNNING,
            attempts=0,
            next_attempt_at=now,
            step_deadline_at=now + step.deadline_after(),
        )
    return replace(state, status=SagaStatus.COMPENSATING, attempts=0, next_attempt_at=now)


def compensate_state(
    definition: SagaDefinition, state: SagaState, reason: str, now: datetime
) -> SagaState:
    """Staff asked to undo a RUNNING saga, or to resume the compensation of a FAILED one (for
    one that failed in a `must_complete` action: undo its completed steps)."""
    if state.status == SagaStatus.FAILED and not failed_in_action(state):
        return replace(state, status=SagaStatus.COMPENSATING, attempts=0, next_attempt_at=now)
    # A saga that failed in an action keeps that failure's reason.
    kept = state.failure_reason if state.status == SagaStatus.FAILED else ""
    compensating = replace(state, failure_reason=kept or reason, step_deadline_at=None)
    return _next_compensation(definition, compensating, now)
