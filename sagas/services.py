"""The saga engine: start, advance, sweep, and the staff operations.

How a run goes (`saga_advance`, called by the Celery task `advance_saga` with chain=True):
1. claim: if the saga is active, due and not leased, take a lease and log the attempt as
   STARTED — one statement;
2. run the current step's action (or compensation) outside any transaction — steps talk to
   the outside world and are idempotent, keyed by `saga_id:step`. With
   SAGA_STEP_ASYNC_COMMIT (the default) the claim and the step's own commits are
   asynchronous (`synchronous_commit = off`): they do not wait for the WAL flush, and the
   outcome's commit in 3, which does, flushes them too (WAL is flushed in order). A database
   crash can only lose a tail of the log: a claim and a step's writes whose outcome was never
   recorded, which is what a worker dying mid-step leaves as well — the step runs again under
   the same keys. Nothing the API answers, no event (eventstore.store.append) and no outcome
   is ever committed asynchronously.
   While it runs, the process's lease keeper (leases.py) renews the lease every third of
   SAGA_LEASE (a compare-and-set on `version` and owner), so a step slower than one lease is
   never taken by a second worker;
   a worker that dies (or is killed by the task's hard time limit) stops renewing and loses
   the lease within SAGA_LEASE;
3. record: `domain.decide` computes the next state, which is written with a compare-and-set
   on the claimed version and lease, together with the attempt's outcome — one statement.
   When the next step is due at once (and the task is within _CHAIN_BUDGET), the same
   statement keeps the lease for it and logs its attempt as STARTED, and the task goes back
   to 2: the outcome is committed before the next step starts, with no broker hop between.
   Otherwise the lease is given back and a due next run is published with
   `transaction.on_commit`.
A worker that dies between 1 and 3 leaves an expired lease that the sweeper picks up; a
duplicate message finds the lease taken (or the step done) and does nothing.
"""

from __future__ import annotations

import copy
import enum
import functools
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from opentelemetry import trace

from commerce_project.metrics import saga_step_duration
from commerce_project.rows import model_from_row
from eventstore.prepared import fetch_prepared, fetch_prepared_described, single_statement_block

from .dispatch import saga_enqueue
from .domain import (
    ACTIVE_STATUSES,
    DEADLINE_REASON,
    UNEXPECTED_ERROR_REASON,
    Failed,
    Outcome,
    PermanentStepError,
    SagaDefinition,
    SagaState,
    SagaStatus,
    StepContext,
    StepKind,
    StepOutcome,
    Succeeded,
    TransientStepError,
    compensate_state,
    deadline_passed,
    decide,
    retry_state,
    start_state,
)
from .exceptions import SagaBusy, SagaIllegalTransition, SagaNotFound
from .leases import lease_kept
from .models import SagaInstance, SagaStepLog
from .registry import find_saga_definition, get_saga_definition, registered_saga_types

logger = logging.getLogger(__name__)
# One span per step run, inside the Celery task's span: chained steps share one task, and
# the trace shows each of them (a no-op while tracing is off).
tracer = trace.get_tracer(__name__)

# How long one task keeps running the steps that come due one after another, before it
# hands the rest to the broker (a bound well inside the task's soft time limit).
_CHAIN_BUDGET = timedelta(seconds=10)


class Advance(enum.StrEnum):
    """What one `saga_advance` call did."""

    RAN = "RAN"  # ran one step (or compensation) and recorded its outcome
    NOT_FOUND = "NOT_FOUND"
    FINISHED = "FINISHED"  # the saga is COMPLETED, COMPENSATED or FAILED
    NOT_DUE = "NOT_DUE"  # its next attempt is later (the sweeper will publish it)
    LEASED = "LEASED"  # another worker holds it
    LEASE_LOST = "LEASE_LOST"  # ran, but the lease expired and someone else took over
    UNKNOWN_TYPE = "UNKNOWN_TYPE"  # no definition registered in this process


def worker_identity() -> str:
    """Lease owner: host, process and a random part (threads of one process differ too)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dumps(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder)


# --- start


def saga_start(
    *,
    saga_type: str,
    saga_id: uuid.UUID,
    correlation_id: str,
    data: dict[str, Any],
    owner_id: uuid.UUID | None = None,
) -> bool:
    """Create the saga and publish its first run when the caller's transaction commits.
    Idempotent: `saga_id` is derived by the caller, and starting an existing saga does
    nothing. Returns whether this call created it. `owner_id` is the one non-staff user
    who may see the saga through the API."""
    definition = get_saga_definition(saga_type)
    now = timezone.now()
    state = start_state(definition, copy.deepcopy(data), now)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO saga_instances (
                saga_id, saga_type, correlation_id, owner_id, current_step, saga_data, status,
                completed_steps, compensated_steps, failure_reason, version, lease_owner,
                lease_expires_at, next_attempt_at, dispatched_at, step_deadline_at, attempts,
                last_error, resolved_by, resolved_at, created_at, updated_at
            ) VALUES (
                %s, %s, %s, %s, %s, %s::jsonb, %s,
                %s::jsonb, '[]'::jsonb, '', 1, '',
                NULL, %s, %s, %s, 0,
                '', '', NULL, %s, %s
            )
            ON CONFLICT (saga_id) DO NOTHING
            RETURNING saga_id
            """,
            [
                saga_id,
                saga_type,
                correlation_id,
                owner_id,
                state.current_step,
                _dumps(state.data),
                state.status.value,
                _dumps(state.completed_steps),
                state.next_attempt_at,
                now,
                state.step_deadline_at,
                now,
                now,
            ],
        )
        created = cursor.fetchone() is not None
    if created:
        transaction.on_commit(functools.partial(saga_enqueue, saga_id))
    return created


# --- advance


def saga_advance(*, saga_id: uuid.UUID, worker: str | None = None, chain: bool = False) -> Advance:
    """Run the saga's current step once, if it is due and nobody else is running it.

    `chain=True` (the Celery task): when the step's outcome makes the next step (or
    compensation) due at once, the transaction that records the outcome also claims the next
    step for this worker, and it runs here instead of after a broker hop — for at most
    `_CHAIN_BUDGET`, then the next run is published as before. Each outcome is committed
    before the next step starts; a worker that dies mid-chain leaves a lapsing lease that the
    sweeper picks up like any other."""
    worker = worker or worker_identity()
    claimed = _claim(saga_id, worker)
    if isinstance(claimed, Advance):
        return claimed
    saga, definition, log = claimed
    started = time.monotonic()
    recorded: Advance | SagaStepLog | None = None
    try:
        while True:
            state = _state(saga)
            if deadline_passed(state, timezone.now()):
                outcome: Outcome = Failed(
                    error=f"deadline of step {saga.current_step!r} passed",
                    reason=DEADLINE_REASON,
                    deadline=True,
                )
                ran = None
            else:
                ran = (_step_label(saga.current_step, state.kind), time.perf_counter())
                outcome = _run_traced(definition, saga, state, worker)
            keep_going = chain and time.monotonic() - started < _CHAIN_BUDGET.total_seconds()
            recorded, outcome = _record(
                definition, saga, state, log, outcome, worker, claim_next=keep_going
            )
            if ran is not None:  # timed with the writes that commit with its outcome
                step, step_started = ran
                saga_step_duration.labels(saga.saga_type, step, _outcome_label(outcome)).observe(
                    time.perf_counter() - step_started
                )
            if isinstance(recorded, Advance):
                return recorded
            log = recorded  # the next step, claimed by this worker in the same transaction
    finally:
        if recorded is not Advance.RAN:  # a last outcome written restores it itself
            _durable_commits_again()


def _run_traced(
    definition: SagaDefinition, saga: SagaInstance, state: SagaState, worker: str
) -> Outcome:
    """The step under its lease, in a span of its own."""
    step = _step_label(saga.current_step, state.kind)
    with tracer.start_as_current_span(f"saga step {step}") as span:
        span.set_attribute("saga.id", str(saga.saga_id))
        span.set_attribute("saga.type", saga.saga_type)
        span.set_attribute("saga.step", step)
        span.set_attribute("saga.attempt", saga.attempts)
        with lease_kept(saga.pk, worker, saga.version) as lease:
            outcome = _run(definition, saga, state)
        span.set_attribute("saga.outcome", _outcome_label(outcome))
    saga.version = lease.version
    return outcome


def _durable_commits_again() -> None:
    """Give the connection back its own synchronous_commit (see _WRITE_OUTCOME) after a run
    that ended without writing a last outcome: a lost lease, an exception."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")
    except DatabaseError:
        # Closed under Django's pool, the connection would only go back to the pool, setting
        # and all: closing the driver's connection first makes the pool drop it.
        if connection.connection is not None:
            connection.connection.close()
        connection.close()


def _step_label(step: str, kind: StepKind) -> str:
    return f"{step}:compensate" if kind is StepKind.COMPENSATION else step


def _outcome_label(outcome: Outcome) -> str:
    if isinstance(outcome, Succeeded):
        return "succeeded"
    return "transient_error" if outcome.transient else "permanent_error"


_CLAIM = """
    WITH before AS (
        SELECT saga_id, lease_owner FROM saga_instances WHERE saga_id = %(id)s FOR UPDATE
    ), claimed AS (
        UPDATE saga_instances AS s
           SET lease_owner = %(worker)s, lease_expires_at = %(until)s,
               attempts = s.attempts + 1, version = s.version + 1, updated_at = %(now)s
          FROM before
         WHERE s.saga_id = before.saga_id
           AND s.status IN ('RUNNING', 'COMPENSATING')
           AND s.next_attempt_at <= %(now)s
           AND (s.lease_expires_at IS NULL OR s.lease_expires_at <= %(now)s)
           AND s.saga_type = ANY(%(types)s)
        RETURNING s.*, before.lease_owner AS previous_owner
    ), abandoned AS (
        UPDATE saga_step_log
           SET outcome = 'ABANDONED', finished_at = %(now)s,
               error = 'its worker lost the lease before reporting'
         WHERE saga_id = %(id)s AND outcome = 'STARTED'
           AND EXISTS (SELECT 1 FROM claimed WHERE previous_owner <> '')
    ), started AS (
        INSERT INTO saga_step_log (
            saga_id, step, kind, attempt, outcome, error, worker, started_at, finished_at
        )
        SELECT saga_id, current_step,
               CASE WHEN status = 'COMPENSATING' THEN 'COMPENSATION' ELSE 'ACTION' END,
               attempts, 'STARTED', '', %(worker)s, %(now)s, NULL
          FROM claimed
        RETURNING id
    )
    SELECT claimed.*, started.id AS log_id,
           -- read before set_config below changes it (a target list is evaluated in order);
           -- never weaker than "on", even on a connection some earlier run left "off"
           CASE WHEN current_setting('synchronous_commit') IN ('off', 'local') THEN 'on'
                ELSE current_setting('synchronous_commit') END AS durable_commit,
           set_config('synchronous_commit',
                      CASE WHEN %(async)s THEN 'off' ELSE current_setting('synchronous_commit') END,
                      false) AS step_commit
      FROM claimed, started
"""


def _claim(
    saga_id: uuid.UUID, worker: str
) -> tuple[SagaInstance, SagaDefinition, SagaStepLog] | Advance:
    """Take the lease if the saga is active, due, not leased and of a known type, and log
    the attempt as STARTED — one statement (a lease that was never given back, because its
    worker died while its attempt was STARTED, has that attempt closed as ABANDONED in the
    same statement: recording an outcome always clears the owner). Otherwise say why not."""
    now = timezone.now()
    params = {
        "id": saga_id,
        "worker": worker,
        "until": now + settings.SAGA_LEASE,
        "now": now,
        "types": registered_saga_types(),
        "async": settings.SAGA_STEP_ASYNC_COMMIT,
    }
    # One statement, atomic by itself: in autocommit it needs no BEGIN and COMMIT round
    # trips of its own (session-level set_config persists as it would after a COMMIT).
    # Prepared on the server, like the outcome statement.
    with single_statement_block():
        names, rows = fetch_prepared_described(_CLAIM, params)
    if not rows:
        return _why_not_claimed(saga_id, now)
    saga = _saga_from_row(dict(zip(names, rows[0], strict=True)))
    definition = get_saga_definition(saga.saga_type)
    kind = StepKind.COMPENSATION if saga.status == SagaStatus.COMPENSATING else StepKind.ACTION
    log = SagaStepLog(
        pk=saga.log_id,  # type: ignore[attr-defined]
        saga_id=saga_id,
        step=saga.current_step,
        kind=kind,
        attempt=saga.attempts,
        outcome=StepOutcome.STARTED,
        worker=worker,
        started_at=now,
    )
    return saga, definition, log


_SAGA_FIELDS = SagaInstance._meta.concrete_fields


def _saga_from_row(row: dict[str, Any]) -> SagaInstance:
    """The claimed SagaInstance from a row of `saga_instances.*` plus the claim's own
    columns (log_id, durable_commit, step_commit), which become attributes."""
    saga = model_from_row(SagaInstance, [row.pop(field.column) for field in _SAGA_FIELDS])
    for name, value in row.items():
        setattr(saga, name, value)
    return saga


def _why_not_claimed(saga_id: uuid.UUID, now: datetime) -> Advance:
    saga = SagaInstance.objects.filter(pk=saga_id).first()
    if saga is None:
        return Advance.NOT_FOUND
    if saga.status not in ACTIVE_STATUSES:
        return Advance.FINISHED
    if saga.next_attempt_at is None or saga.next_attempt_at > now:
        return Advance.NOT_DUE
    if saga.lease_expires_at is not None and saga.lease_expires_at > now:
        return Advance.LEASED
    if find_saga_definition(saga.saga_type) is None:
        logger.error("saga %s: no definition for type %r", saga_id, saga.saga_type)
        return Advance.UNKNOWN_TYPE
    # Claimable now: another claim took it and gave it back in between. Rare; let the
    # sweeper or the next delivery take it.
    return Advance.LEASED


def _state(saga: SagaInstance) -> SagaState:
    return SagaState(
        status=SagaStatus(saga.status),
        current_step=saga.current_step,
        attempts=saga.attempts,
        completed_steps=list(saga.completed_steps),
        compensated_steps=list(saga.compensated_steps),
        failure_reason=saga.failure_reason,
        step_deadline_at=saga.step_deadline_at,
        next_attempt_at=saga.next_attempt_at,
        last_error=saga.last_error,
        data=dict(saga.saga_data),
    )


def _run(definition: SagaDefinition, saga: SagaInstance, state: SagaState) -> Outcome:
    step = definition.step(saga.current_step)
    function = step.action if state.kind is StepKind.ACTION else step.compensation
    # Compensation-only steps never become current as actions; only steps with a
    # compensation are compensated.
    assert function is not None, f"step {step.name!r} has no {state.kind.lower()}"
    context = StepContext(
        saga_id=saga.saga_id,
        saga_type=saga.saga_type,
        correlation_id=saga.correlation_id,
        owner_id=saga.owner_id,
        step=step.name,
        kind=state.kind,
        attempt=saga.attempts,
        data=copy.deepcopy(state.data),
        failure_reason=saga.failure_reason or None,
    )
    try:
        returned = function(context)
    except Exception as exc:
        return _failure(saga, step.name, exc)
    data = context.data
    if returned:
        data.update(returned)
    try:
        _dumps(data)
    except TypeError as exc:
        return Failed(error=f"step data is not JSON: {exc}", reason=UNEXPECTED_ERROR_REASON)
    return Succeeded(data=data, with_outcome=context.with_outcome)


def _failure(saga: SagaInstance, step: str, exc: Exception) -> Failed:
    """What a step (or its writes that commit with the outcome) raised, as its outcome."""
    if isinstance(exc, TransientStepError):
        return Failed(error=exc.message, reason=exc.reason, transient=True)
    if isinstance(exc, PermanentStepError):
        return Failed(error=exc.message, reason=exc.reason)
    # A bug or an infrastructure hiccup: retried like a transient one.
    logger.error("saga %s step %s raised unexpectedly", saga.saga_id, step, exc_info=exc)
    return Failed(
        error=f"{type(exc).__name__}: {exc}", reason=UNEXPECTED_ERROR_REASON, transient=True
    )


class _WritesRefused(Exception):
    """A step's writes that commit with its outcome raised: the outcome's transaction is
    rolled back with them, and `failure` is recorded in a new one."""

    def __init__(self, failure: Failed) -> None:
        self.failure = failure


def _with_outcome(saga: SagaInstance, outcome: Outcome) -> None:
    """Run a succeeded step's writes that commit with its outcome, inside the outcome's
    transaction (no savepoint: if they raise, the whole transaction rolls back)."""
    if not isinstance(outcome, Succeeded) or outcome.with_outcome is None:
        return
    try:
        outcome.with_outcome()
    except Exception as exc:
        raise _WritesRefused(_failure(saga, saga.current_step, exc)) from exc


def _record(
    definition: SagaDefinition,
    saga: SagaInstance,
    state: SagaState,
    log: SagaStepLog,
    outcome: Outcome,
    worker: str,
    *,
    claim_next: bool = False,
) -> tuple[Advance | SagaStepLog, Outcome]:
    """Write the outcome (compare-and-set on the claimed version and lease). When the next
    step is due now: with `claim_next`, keep the lease for it and log its attempt as STARTED
    in the same transaction, update `saga` in place and return the new attempt's log row;
    otherwise publish its run on commit. Also returns the outcome recorded: the step's, or
    the refusal of its writes that commit with the outcome."""
    record = functools.partial(
        _record_in_one_transaction, definition, saga, state, log, worker, claim_next=claim_next
    )
    try:
        return record(outcome), outcome
    except _WritesRefused as refused:
        return record(refused.failure), refused.failure


def _record_in_one_transaction(
    definition: SagaDefinition,
    saga: SagaInstance,
    state: SagaState,
    log: SagaStepLog,
    worker: str,
    outcome: Outcome,
    *,
    claim_next: bool,
) -> Advance | SagaStepLog:
    # Without writes to commit with it, the outcome is one statement (_WRITE_OUTCOME),
    # atomic by itself: in autocommit no BEGIN and COMMIT round trips (a transaction the
    # caller has open holds it, on_commit hooks included).
    writes = isinstance(outcome, Succeeded) and outcome.with_outcome is not None
    with transaction.atomic() if writes else single_statement_block():
        _with_outcome(saga, outcome)
        now = timezone.now()
        decision = decide(definition, state, outcome, now)
        new = decision.state
        runnable = (
            new.status in ACTIVE_STATUSES
            and new.next_attempt_at is not None
            and new.next_attempt_at <= now
        )
        chained = runnable and claim_next
        if chained:
            lease: dict[str, Any] = {
                "lease_owner": worker,
                "lease_expires_at": now + settings.SAGA_LEASE,
                "attempts": new.attempts + 1,
                # Not published: if this worker dies, the sweeper publishes once the lease
                # lapses.
                "dispatched_at": None,
            }
        else:
            lease = {
                "lease_owner": "",
                "lease_expires_at": None,
                "dispatched_at": now if runnable else None,
            }
        fields = {**_state_fields(new), **lease}
        written = _write_outcome(
            saga=saga,
            worker=worker,
            fields=fields,
            log=log,
            log_outcome=decision.log_outcome,
            error=outcome.error if isinstance(outcome, Failed) else "",
            next_step=new if chained else None,
            now=now,
        )
        if written is None:
            logger.warning(
                "saga %s: lease of %s expired during step %s; its outcome is dropped",
                saga.pk,
                worker,
                saga.current_step,
            )
            # and so are the writes that were to commit with it: the step runs again
            if writes:
                transaction.set_rollback(True)
            return Advance.LEASE_LOST
        if runnable and not chained:
            transaction.on_commit(functools.partial(saga_enqueue, saga.pk))
    logger.info(
        "saga %s %s %s attempt %s: %s -> %s",
        saga.pk,
        state.kind,
        saga.current_step,
        saga.attempts,
        decision.log_outcome,
        new.status,
    )
    if not chained:
        return Advance.RAN
    for name, value in fields.items():
        setattr(saga, name, value)
    saga.version += 1
    assert written is not None
    return written


_WRITE_OUTCOME = """
    WITH saga AS (
        UPDATE saga_instances
           SET status = %s, current_step = %s, attempts = %s, completed_steps = %s::jsonb,
               compensated_steps = %s::jsonb, failure_reason = %s, step_deadline_at = %s,
               next_attempt_at = %s, last_error = %s, saga_data = %s::jsonb,
               lease_owner = %s, lease_expires_at = %s, dispatched_at = %s,
               version = version + 1, updated_at = %s
         WHERE saga_id = %s AND version = %s AND lease_owner = %s
        RETURNING saga_id
    ), finished AS (
        UPDATE saga_step_log SET outcome = %s, error = %s, finished_at = %s
         WHERE id = %s AND EXISTS (SELECT 1 FROM saga)
    ), started AS (
        INSERT INTO saga_step_log (
            saga_id, step, kind, attempt, outcome, error, worker, started_at, finished_at
        )
        SELECT saga_id, %s, %s, %s, %s, '', %s, %s, NULL FROM saga WHERE %s
        RETURNING id
    )
    SELECT EXISTS (SELECT 1 FROM saga), (SELECT id FROM started),
           -- this commit is durable; the session goes back to its own setting unless the
           -- next step runs on (is_local)
           set_config('synchronous_commit', %s, %s)
"""


def _write_outcome(
    *,
    saga: SagaInstance,
    worker: str,
    fields: dict[str, Any],
    log: SagaStepLog,
    log_outcome: StepOutcome,
    error: str,
    next_step: SagaState | None,
    now: datetime,
) -> SagaStepLog | None:
    """One statement: the saga's new state (a compare-and-set on the claimed version and
    lease owner), the attempt's outcome and, with `next_step`, the next attempt logged as
    STARTED. None when the compare-and-set failed (nothing is written); else the STARTED
    row (or `log` when there is no next step)."""
    started = SagaStepLog(
        saga_id=saga.pk,
        step=next_step.current_step if next_step else "",
        kind=next_step.kind if next_step else StepKind.ACTION,
        attempt=next_step.attempts + 1 if next_step else 0,
        outcome=StepOutcome.STARTED,
        error="",
        worker=worker,
        started_at=now,
    )
    params = [
        fields["status"],
        fields["current_step"],
        fields["attempts"],
        _dumps(fields["completed_steps"]),
        _dumps(fields["compensated_steps"]),
        fields["failure_reason"],
        fields["step_deadline_at"],
        fields["next_attempt_at"],
        fields["last_error"],
        _dumps(fields["saga_data"]),
        fields["lease_owner"],
        fields["lease_expires_at"],
        fields["dispatched_at"],
        now,
        saga.pk,
        saga.version,
        worker,
        str(log_outcome),
        error,
        now,
        log.pk,
        started.step,
        str(started.kind),
        started.attempt,
        str(started.outcome),
        worker,
        now,
        next_step is not None,
        getattr(saga, "durable_commit", None) or "on",
        next_step is not None,
    ]
    # Prepared on the server: four times per saga, and planning this statement cost about as
    # much as running it.
    [(written, started_id, _)] = fetch_prepared(_WRITE_OUTCOME, params)
    if not written:
        return None
    if next_step is None:
        return log
    started.pk = started_id
    return started


def _state_fields(state: SagaState) -> dict[str, Any]:
    return {
        "status": state.status.value,
        "current_step": state.current_step,
        "attempts": state.attempts,
        "completed_steps": state.completed_steps,
        "compensated_steps": state.compensated_steps,
        "failure_reason": state.failure_reason,
        "step_deadline_at": state.step_deadline_at,
        "next_attempt_at": state.next_attempt_at,
        "last_error": state.last_error,
        "saga_data": state.data,
    }


# --- sweeper


def saga_sweep(*, limit: int | None = None) -> int:
    """Publish a run of every active saga that is due and not leased (or whose lease
    expired) and was not published in the last SAGA_REDISPATCH_AFTER: lost broker messages,
    dead workers and scheduled retries all end up here. Safe to run in parallel (SKIP
    LOCKED). Returns how many runs were published."""
    now = timezone.now()
    with transaction.atomic():
        due = list(
            SagaInstance.objects.select_for_update(skip_locked=True)
            .filter(status__in=ACTIVE_STATUSES, next_attempt_at__lte=now)
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
            .filter(
                Q(dispatched_at__isnull=True)
                | Q(dispatched_at__lte=now - settings.SAGA_REDISPATCH_AFTER)
            )
            .order_by("next_attempt_at")
            .values_list("saga_id", "version")[: limit or settings.SAGA_SWEEP_BATCH]
        )
        published: list[uuid.UUID] = []
        for saga_id, version in due:
            if SagaInstance.objects.filter(pk=saga_id, version=version).update(
                dispatched_at=now, version=F("version") + 1, updated_at=now
            ):
                published.append(saga_id)
        for saga_id in published:
            transaction.on_commit(functools.partial(saga_enqueue, saga_id))
    if published:
        logger.info("sweeper published %d saga run(s)", len(published))
    return len(published)


# --- staff operations


def saga_retry(*, saga_id: uuid.UUID, actor: str = "") -> SagaInstance:
    """FAILED → COMPENSATING: try the failing compensation again, with fresh attempts; or,
    for a saga that failed in a `must_complete` step, FAILED → RUNNING: run that step again."""
    saga = _get(saga_id)
    if saga.status != SagaStatus.FAILED:
        raise SagaIllegalTransition(
            f"Only a FAILED saga can be retried; this one is {saga.status}.",
            saga_status=saga.status,
        )
    new = retry_state(get_saga_definition(saga.saga_type), _state(saga), timezone.now())
    return _staff_write(saga, new, action="retry", actor=actor)


def saga_compensate(
    *,
    saga_id: uuid.UUID,
    reason: str = "compensated_by_staff",
    actor: str = "",
    only_at_steps: Collection[str] | None = None,
) -> SagaInstance:
    """Undo a RUNNING saga now (its completed steps, in reverse), or resume compensating a
    FAILED one. Refused while a worker is running one of its steps (SagaBusy).
    `only_at_steps`: refuse (SagaIllegalTransition) unless the saga's current step is one of
    these, checked on the same read that the compare-and-set write is based on — for callers
    that may undo a saga only before it passed a point (e.g. a payment timeout)."""
    saga = _get(saga_id)
    if saga.status not in (SagaStatus.RUNNING, SagaStatus.FAILED):
        raise SagaIllegalTransition(
            f"Only a RUNNING or FAILED saga can be compensated; this one is {saga.status}.",
            saga_status=saga.status,
        )
    if only_at_steps is not None and saga.current_step not in only_at_steps:
        raise SagaIllegalTransition(
            f"Saga {saga.pk} is at step {saga.current_step!r}, past the point where it may be"
            " compensated this way.",
            saga_status=saga.status,
            current_step=saga.current_step,
        )
    new = compensate_state(
        get_saga_definition(saga.saga_type), _state(saga), reason, timezone.now()
    )
    return _staff_write(saga, new, action="compensate", actor=actor)


def saga_wake(*, saga_id: uuid.UUID) -> bool:
    """Make an active saga that waits for a later attempt due now, and publish a run when the
    caller's transaction commits — e.g. the order it serves was cancelled, so waiting out a
    retry delay is pointless. A saga that a worker holds is left alone (its worker publishes
    the next run itself). Returns whether it was woken."""
    now = timezone.now()
    woken = (
        SagaInstance.objects.filter(pk=saga_id, status__in=ACTIVE_STATUSES, next_attempt_at__gt=now)
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now))
        .update(next_attempt_at=now, dispatched_at=now, version=F("version") + 1, updated_at=now)
    )
    if woken:
        transaction.on_commit(functools.partial(saga_enqueue, saga_id))
    return bool(woken)


def saga_mark_resolved(*, saga_id: uuid.UUID, actor: str, note: str = "") -> SagaInstance:
    """FAILED → COMPENSATED: staff repaired what the failing compensation could not."""
    saga = _get(saga_id)
    if saga.status != SagaStatus.FAILED:
        raise SagaIllegalTransition(
            f"Only a FAILED saga can be marked resolved; this one is {saga.status}.",
            saga_status=saga.status,
        )
    state = _state(saga)
    last_error = (
        f"{state.last_error}\nResolved by {actor}: {note}".strip() if note else state.last_error
    )
    new = replace(
        state,
        status=SagaStatus.COMPENSATED,
        current_step="",
        attempts=0,
        next_attempt_at=None,
        last_error=last_error,
    )
    return _staff_write(
        saga,
        new,
        action="mark resolved",
        actor=actor,
        resolved_by=actor,
        resolved_at=timezone.now(),
    )


def _get(saga_id: uuid.UUID) -> SagaInstance:
    saga = SagaInstance.objects.filter(pk=saga_id).first()
    if saga is None:
        raise SagaNotFound(f"No saga {saga_id}.")
    return saga


def _staff_write(
    saga: SagaInstance, new: SagaState, *, action: str, actor: str, **extra: datetime | str
) -> SagaInstance:
    now = timezone.now()
    if saga.lease_expires_at is not None and saga.lease_expires_at > now:
        raise SagaBusy(f"Saga {saga.pk} is running a step; try again in a moment.")
    runnable = new.status in ACTIVE_STATUSES and new.next_attempt_at is not None
    with transaction.atomic():
        written = SagaInstance.objects.filter(pk=saga.pk, version=saga.version).update(
            **_state_fields(new),
            **extra,
            lease_owner="",
            lease_expires_at=None,
            dispatched_at=now if runnable else None,
            version=F("version") + 1,
            updated_at=now,
        )
        if not written:
            raise SagaBusy(f"Saga {saga.pk} changed meanwhile; reload and try again.")
        if saga.lease_owner:
            # The expired lease is cleared here, so the next claim cannot tell: close it now.
            SagaStepLog.objects.filter(saga_id=saga.pk, outcome=StepOutcome.STARTED).update(
                outcome=StepOutcome.ABANDONED,
                finished_at=now,
                error="its worker lost the lease before reporting",
            )
        if runnable:
            transaction.on_commit(functools.partial(saga_enqueue, saga.pk))
    logger.info("saga %s: %s by %s -> %s", saga.pk, action, actor or "system", new.status)
    return SagaInstance.objects.get(pk=saga.pk)
