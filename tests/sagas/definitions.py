"""Saga definitions for the engine tests, registered at import: by the test modules, and by
the real worker through SAGA_DEFINITION_MODULES (see worker.py).

Behaviour is scripted through the saga's data, so it is the same in every process:
`data["script"][<step>]` (or `[undo_<step>]` for its compensation) is one of
- "ok" (the default);
- "permanent[:reason]": PermanentStepError;
- "transient" (always) or "transient:N" (fails until attempt N): TransientStepError;
- "sleep:SECONDS": takes that long, then succeeds;
- "die": the first attempt kills its "worker" (raises WorkerDied, a BaseException);
- "email": sends the order_confirmed email to data["email"].
Successful runs append their name to data["trail"] (a compensation appends "undo_<step>").
With data["record_commit_mode"] set, each run appends the connection's synchronous_commit
to data["commit_modes"]. With data["runs_file"] set, every run that returns or raises appends a line
"<step> <pid> <started> <finished>" (epoch seconds) to that file, so a test can see from any
process which runs overlapped in time.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from eventstore.store import append
from orders.domain import OrderCreated
from sagas.domain import (
    PermanentStepError,
    RetryPolicy,
    SagaDefinition,
    Step,
    StepContext,
    StepFunction,
    TransientStepError,
)
from sagas.models import SagaInstance
from sagas.notifications import ORDER_CONFIRMED, email_send
from sagas.registry import register_saga
from sagas.services import Advance, saga_advance

FAST_RETRY = RetryPolicy(
    max_attempts=3,
    base_delay=timedelta(milliseconds=20),
    max_delay=timedelta(milliseconds=100),
    jitter=0.0,
)
FAST_COMPENSATION_RETRY = RetryPolicy(
    max_attempts=2,
    base_delay=timedelta(milliseconds=20),
    max_delay=timedelta(milliseconds=100),
    jitter=0.0,
)
SLOW_RETRY = RetryPolicy(
    max_attempts=10, base_delay=timedelta(seconds=5), max_delay=timedelta(seconds=5), jitter=0.0
)


class WorkerDied(BaseException):
    """Stands for a worker process that dies in the middle of a step (nothing catches it)."""


# Per saga id, the streams its runs wrote with their outcomes (data "marker": true), in the
# order the runs reached that point: one new Order stream per run, committed only with the
# run's outcome (StepContext.commit_with_outcome).
MARKERS: dict[str, list[uuid.UUID]] = {}


def _write_marker_with_outcome(ctx: StepContext) -> None:
    marker = uuid.uuid4()
    MARKERS.setdefault(str(ctx.saga_id), []).append(marker)
    created = OrderCreated(customer_id=uuid.uuid4(), currency="EUR", occurred_at=timezone.now())
    ctx.commit_with_outcome(lambda: append(marker, "Order", 0, [created]))


# Calls per (saga id, "step:KIND") in this process, for "ran exactly once" assertions.
CALLS: Counter[tuple[str, str]] = Counter()
_calls_lock = threading.Lock()


def _behave(ctx: StepContext, behaviour: str) -> None:
    kind, _, arg = behaviour.partition(":")
    if kind == "ok":
        return
    if kind == "permanent":
        raise PermanentStepError(f"{ctx.step} refused", reason=arg or f"{ctx.step}_refused")
    if kind == "transient":
        if not arg or ctx.attempt < int(arg):
            raise TransientStepError(
                f"{ctx.step} attempt {ctx.attempt} timed out", reason=f"{ctx.step}_unavailable"
            )
        return
    if kind == "sleep":
        time.sleep(float(arg))
        return
    if kind == "die":
        if ctx.attempt == 1:
            raise WorkerDied(ctx.step)
        return
    if kind == "email":
        email_send(
            template=ORDER_CONFIRMED,
            to=[ctx.data["email"]],
            context={"order_id": ctx.correlation_id, "customer_name": "Ada", "lines": []},
            idempotency_key=ctx.idempotency_key,
        )
        return
    raise ValueError(f"unknown scripted behaviour {behaviour!r}")


def _scripted(name: str, undo: bool) -> StepFunction:
    label = f"undo_{name}" if undo else name

    def run(ctx: StepContext) -> Mapping[str, Any] | None:
        with _calls_lock:
            CALLS[(str(ctx.saga_id), f"{ctx.step}:{ctx.kind}")] += 1
        started = time.time()
        try:
            _behave(ctx, ctx.data.get("script", {}).get(label, "ok"))
        finally:
            if "runs_file" in ctx.data:
                with open(ctx.data["runs_file"], "a") as runs:
                    runs.write(f"{label} {os.getpid()} {started} {time.time()}\n")
        ctx.data["trail"] = [*ctx.data.get("trail", []), label]
        if ctx.data.get("marker") and not undo:
            _write_marker_with_outcome(ctx)
        if ctx.data.get("record_commit_mode"):
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('synchronous_commit')")
                ctx.data.setdefault("commit_modes", []).append(cursor.fetchone()[0])
        if undo:
            ctx.data[f"{label}_reason"] = ctx.failure_reason
            return None
        return {f"{name}_key": ctx.idempotency_key}

    run.__name__ = label
    return run


def scripted_step(name: str, **options: Any) -> Step:
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("compensation_retry", FAST_COMPENSATION_RETRY)
    compensated = options.pop("compensated", True)
    return Step(
        name=name,
        action=_scripted(name, undo=False),
        compensation=_scripted(name, undo=True) if compensated else None,
        **options,
    )


THREE_STEPS = register_saga(
    SagaDefinition(
        saga_type="test.three_steps",
        steps=(
            scripted_step("reserve", deadline=timedelta(seconds=30)),
            scripted_step("charge", deadline=timedelta(seconds=30)),
            scripted_step("notify", compensated=False, best_effort=True),
        ),
    )
)

DEADLINE = register_saga(
    SagaDefinition(
        saga_type="test.deadline",
        steps=(
            scripted_step("reserve"),
            scripted_step("charge", retry=SLOW_RETRY, deadline=timedelta(milliseconds=400)),
        ),
    )
)

MUST_COMPLETE = register_saga(
    SagaDefinition(
        saga_type="test.must_complete",
        steps=(
            scripted_step("reserve"),
            scripted_step("refund", compensated=False, must_complete=True),
        ),
    )
)


def drive(saga_id: uuid.UUID, max_runs: int = 50) -> SagaInstance:
    """Advance a saga in this process until it has finished, waiting out its retry delays
    (milliseconds in these definitions)."""
    for _ in range(max_runs):
        result = saga_advance(saga_id=saga_id)
        if result == Advance.FINISHED:
            return SagaInstance.objects.get(pk=saga_id)
        if result == Advance.NOT_DUE:
            due = SagaInstance.objects.get(pk=saga_id).next_attempt_at
            assert due is not None
            time.sleep(max(0.0, (due - timezone.now()).total_seconds()) + 0.005)
    raise AssertionError(f"saga {saga_id} did not finish in {max_runs} runs")
