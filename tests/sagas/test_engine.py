"""The saga engine driven step by step in this process, against the real database."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from eventstore.store import load
from sagas.domain import SagaStatus, StepKind, StepOutcome
from sagas.exceptions import SagaBusy, SagaIllegalTransition, UnknownSagaType
from sagas.leases import Lease
from sagas.models import SagaInstance, SagaStepLog
from sagas.services import (
    Advance,
    saga_advance,
    saga_compensate,
    saga_mark_resolved,
    saga_retry,
    saga_start,
    saga_wake,
)

from .definitions import CALLS, MARKERS, WorkerDied, drive
from .factories import start_test_saga

pytestmark = pytest.mark.django_db


def advancing_in_a_thread(
    saga_id: uuid.UUID, *, worker: str | None = None
) -> tuple[threading.Thread, list[Advance]]:
    """saga_advance run by a thread of its own (with its own database connection), started;
    its answer is in the list once the thread is joined."""
    answers: list[Advance] = []

    def deliver() -> None:
        try:
            answers.append(saga_advance(saga_id=saga_id, worker=worker))
        finally:
            connection.close()

    thread = threading.Thread(target=deliver)
    thread.start()
    return thread, answers


def log_of(saga: SagaInstance) -> list[tuple[str, str, int, str]]:
    return [
        (row.step, row.kind, row.attempt, row.outcome)
        for row in SagaStepLog.objects.filter(saga=saga).order_by("started_at", "id")
    ]


def test_happy_path_runs_every_step_in_order() -> None:
    # given
    saga = start_test_saga()
    # when
    saga = drive(saga.saga_id)
    # then
    assert saga.status == SagaStatus.COMPLETED
    assert saga.saga_data["trail"] == ["reserve", "charge", "notify"]
    assert saga.saga_data["reserve_key"] == f"{saga.saga_id}:reserve"
    assert saga.completed_steps == ["reserve", "charge", "notify"]
    assert saga.next_attempt_at is None
    assert saga.lease_owner == ""
    assert log_of(saga) == [
        ("reserve", "ACTION", 1, "SUCCEEDED"),
        ("charge", "ACTION", 1, "SUCCEEDED"),
        ("notify", "ACTION", 1, "SUCCEEDED"),
    ]


def test_every_update_bumps_the_version() -> None:
    # given
    saga = start_test_saga()
    assert saga.version == 1
    # when
    saga_advance(saga_id=saga.saga_id)
    # then: one compare-and-set for the claim, one for the outcome
    saga.refresh_from_db()
    assert saga.version == 3
    assert saga.current_step == "charge"


def test_starting_the_same_saga_twice_is_a_no_op() -> None:
    # given
    saga = start_test_saga()
    saga_advance(saga_id=saga.saga_id)
    # when
    created = saga_start(
        saga_type="test.three_steps",
        saga_id=saga.saga_id,
        correlation_id="another",
        data={"script": {"reserve": "permanent"}},
    )
    # then
    assert created is False
    again = SagaInstance.objects.get(pk=saga.saga_id)
    assert (again.correlation_id, again.current_step) == (saga.correlation_id, "charge")


def test_starting_an_unknown_saga_type_fails() -> None:
    with pytest.raises(UnknownSagaType):
        saga_start(saga_type="test.nope", saga_id=uuid.uuid4(), correlation_id="x", data={})


def test_transient_failure_is_retried_when_next_attempt_at_is_due() -> None:
    # given
    saga = start_test_saga(script={"charge": "transient:2"})
    saga_advance(saga_id=saga.saga_id)
    # when
    before = timezone.now()
    first = saga_advance(saga_id=saga.saga_id)
    saga.refresh_from_db()
    scheduled = saga.next_attempt_at
    # the retry is due 20 ms later; a busy machine may take longer than that between two
    # calls, so the due time is moved out of reach while "too early" is asked
    SagaInstance.objects.filter(pk=saga.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=1)
    )
    too_early = saga_advance(saga_id=saga.saga_id)
    SagaInstance.objects.filter(pk=saga.pk).update(next_attempt_at=scheduled)
    # then: scheduled in the database, not run again before it is due
    assert (first, too_early) == (Advance.RAN, Advance.NOT_DUE)
    saga.refresh_from_db()
    assert saga.status == SagaStatus.RUNNING
    assert saga.attempts == 1
    assert scheduled is not None
    assert scheduled > before
    assert saga.dispatched_at is None  # the sweeper publishes it when due
    assert "charge attempt 1 timed out" in saga.last_error
    # when
    saga = drive(saga.saga_id)
    # then
    assert saga.status == SagaStatus.COMPLETED
    assert log_of(saga)[1:3] == [
        ("charge", "ACTION", 1, "RETRY"),
        ("charge", "ACTION", 2, "SUCCEEDED"),
    ]


def test_permanent_failure_compensates_completed_steps_in_reverse() -> None:
    # given: a fourth-step-like failure point at "notify" is best effort, so fail "charge"
    saga = start_test_saga(script={"charge": "permanent:card_declined"})
    # when
    saga = drive(saga.saga_id)
    # then
    assert saga.status == SagaStatus.COMPENSATED
    assert saga.failure_reason == "card_declined"
    assert saga.saga_data["trail"] == ["reserve", "undo_reserve"]
    assert saga.saga_data["undo_reserve_reason"] == "card_declined"
    assert saga.compensated_steps == ["reserve"]
    assert log_of(saga) == [
        ("reserve", "ACTION", 1, "SUCCEEDED"),
        ("charge", "ACTION", 1, "FAILED"),
        ("reserve", "COMPENSATION", 1, "SUCCEEDED"),
    ]


def test_failure_in_a_later_step_undoes_every_completed_step_latest_first() -> None:
    # given: a saga whose third step is not best effort
    from sagas.domain import SagaDefinition
    from sagas.registry import register_saga

    from .definitions import scripted_step

    register_saga(
        SagaDefinition(
            saga_type="test.strict_three",
            steps=(scripted_step("a"), scripted_step("b"), scripted_step("c")),
        )
    )
    saga = start_test_saga(saga_type="test.strict_three", script={"c": "permanent"})
    # when
    saga = drive(saga.saga_id)
    # then
    assert saga.status == SagaStatus.COMPENSATED
    assert saga.saga_data["trail"] == ["a", "b", "undo_b", "undo_a"]


def test_exhausted_retries_compensate_with_the_errors_reason() -> None:
    # given: FAST_RETRY allows three attempts
    saga = start_test_saga(script={"charge": "transient"})
    # when
    saga = drive(saga.saga_id)
    # then
    assert saga.status == SagaStatus.COMPENSATED
    assert saga.failure_reason == "charge_unavailable"
    outcomes = [row for row in log_of(saga) if row[0] == "charge"]
    assert outcomes == [
        ("charge", "ACTION", 1, "RETRY"),
        ("charge", "ACTION", 2, "RETRY"),
        ("charge", "ACTION", 3, "FAILED"),
    ]
    assert saga.saga_data["trail"] == ["reserve", "undo_reserve"]


def test_passed_deadline_compensates_with_reason_timeout() -> None:
    # given: "charge" has a 400 ms deadline and retries only after 5 s
    saga = start_test_saga(saga_type="test.deadline", script={"charge": "transient"})
    saga_advance(saga_id=saga.saga_id)
    saga_advance(saga_id=saga.saga_id)
    saga.refresh_from_db()
    # then: the retry is due at the deadline, not 5 s later
    assert saga.step_deadline_at is not None
    assert saga.next_attempt_at == saga.step_deadline_at
    # when
    saga = drive(saga.saga_id)
    # then
    assert saga.status == SagaStatus.COMPENSATED
    assert saga.failure_reason == "timeout"
    assert log_of(saga)[-2:] == [
        ("charge", "ACTION", 2, "FAILED"),
        ("reserve", "COMPENSATION", 1, "SUCCEEDED"),
    ]
    assert "deadline" in SagaStepLog.objects.get(saga=saga, step="charge", attempt=2).error


def test_best_effort_step_failure_is_recorded_and_undoes_nothing() -> None:
    # given
    saga = start_test_saga(script={"notify": "transient"})
    # when
    saga = drive(saga.saga_id)
    # then
    assert saga.status == SagaStatus.COMPLETED
    assert saga.saga_data["trail"] == ["reserve", "charge"]
    assert saga.compensated_steps == []
    assert "notify attempt 3 timed out" in saga.last_error
    assert log_of(saga)[-1] == ("notify", "ACTION", 3, "FAILED")


def test_compensation_that_keeps_failing_leaves_the_saga_failed() -> None:
    # given
    saga = start_test_saga(script={"charge": "permanent", "undo_reserve": "transient"})
    # when
    saga = drive(saga.saga_id)
    # then
    assert saga.status == SagaStatus.FAILED
    assert saga.current_step == "reserve"
    assert saga.next_attempt_at is None
    assert log_of(saga)[-2:] == [
        ("reserve", "COMPENSATION", 1, "RETRY"),
        ("reserve", "COMPENSATION", 2, "FAILED"),
    ]


def test_staff_retry_resumes_the_failing_compensation() -> None:
    # given: a FAILED saga, and then the cause of its failing compensation is repaired
    saga = start_test_saga(script={"charge": "permanent", "undo_reserve": "transient"})
    saga = drive(saga.saga_id)
    assert saga.status == SagaStatus.FAILED
    repaired = {**saga.saga_data, "script": {"charge": "permanent"}}
    SagaInstance.objects.filter(pk=saga.pk).update(saga_data=repaired)
    # when
    retried = saga_retry(saga_id=saga.saga_id, actor="staff")
    # then
    assert retried.status == SagaStatus.COMPENSATING
    assert retried.attempts == 0
    saga = drive(saga.saga_id)
    assert saga.status == SagaStatus.COMPENSATED
    assert saga.saga_data["trail"] == ["reserve", "undo_reserve"]


@pytest.mark.parametrize("status", ["RUNNING", "COMPLETED", "COMPENSATED"])
def test_only_failed_sagas_can_be_retried_or_resolved(status: str) -> None:
    # given
    saga = start_test_saga()
    SagaInstance.objects.filter(pk=saga.pk).update(status=status)
    # when / then
    with pytest.raises(SagaIllegalTransition):
        saga_retry(saga_id=saga.saga_id)
    with pytest.raises(SagaIllegalTransition):
        saga_mark_resolved(saga_id=saga.saga_id, actor="staff")


def test_staff_can_compensate_a_running_saga() -> None:
    # given: a saga retrying "charge" for a long time
    saga = start_test_saga(saga_type="test.deadline", script={"charge": "transient"})
    saga_advance(saga_id=saga.saga_id)
    # when
    saga_compensate(saga_id=saga.saga_id, reason="stuck", actor="staff")
    saga = drive(saga.saga_id)
    # then
    assert saga.status == SagaStatus.COMPENSATED
    assert saga.failure_reason == "stuck"
    assert saga.saga_data["trail"] == ["reserve", "undo_reserve"]


def test_staff_cannot_compensate_while_a_worker_holds_the_lease() -> None:
    # given
    saga = start_test_saga()
    SagaInstance.objects.filter(pk=saga.pk).update(
        lease_owner="other", lease_expires_at=timezone.now() + timedelta(minutes=1)
    )
    # when / then
    with pytest.raises(SagaBusy):
        saga_compensate(saga_id=saga.saga_id)


def test_mark_resolved_closes_a_failed_saga() -> None:
    # given
    saga = start_test_saga(script={"charge": "permanent", "undo_reserve": "permanent"})
    saga = drive(saga.saga_id)
    assert saga.status == SagaStatus.FAILED
    # when
    resolved = saga_mark_resolved(saga_id=saga.saga_id, actor="staff", note="released by hand")
    # then
    assert resolved.status == SagaStatus.COMPENSATED
    assert resolved.resolved_by == "staff"
    assert resolved.resolved_at is not None
    assert "released by hand" in resolved.last_error
    assert saga_advance(saga_id=saga.saga_id) == Advance.FINISHED


def test_a_step_whose_worker_died_runs_again_after_the_lease_expires(
    settings: SettingsWrapper,
) -> None:
    # given: a worker dies in the middle of "reserve", holding a short lease
    settings.SAGA_LEASE = timedelta(milliseconds=500)
    saga = start_test_saga(script={"reserve": "die"})
    with pytest.raises(WorkerDied):
        saga_advance(saga_id=saga.saga_id, worker="dead-worker")
    # when: another worker comes while the lease still holds, then after it expired
    busy = saga_advance(saga_id=saga.saga_id)
    time.sleep(0.55)
    recovered = saga_advance(saga_id=saga.saga_id)
    # then
    assert (busy, recovered) == (Advance.LEASED, Advance.RAN)
    saga.refresh_from_db()
    assert saga.current_step == "charge"
    assert log_of(saga) == [
        ("reserve", "ACTION", 1, "ABANDONED"),
        ("reserve", "ACTION", 2, "SUCCEEDED"),
    ]


def test_unexpected_exception_is_retried_like_a_transient_error() -> None:
    # given: a behaviour the scripted steps do not know raises ValueError
    saga = start_test_saga(script={"reserve": "explode"})
    # when
    saga_advance(saga_id=saga.saga_id)
    # then
    saga.refresh_from_db()
    assert saga.status == SagaStatus.RUNNING
    assert "ValueError" in saga.last_error
    assert log_of(saga) == [("reserve", "ACTION", 1, "RETRY")]


def test_advancing_a_finished_or_missing_saga_does_nothing() -> None:
    # given
    saga = drive(start_test_saga().saga_id)
    # when / then
    assert saga_advance(saga_id=saga.saga_id) == Advance.FINISHED
    assert saga_advance(saga_id=uuid.uuid4()) == Advance.NOT_FOUND


@pytest.mark.django_db(transaction=True)
def test_duplicate_concurrent_deliveries_run_the_step_once() -> None:
    # given: a slow first step, and two workers handed the same message at the same moment
    saga = start_test_saga(script={"reserve": "sleep:0.3"})
    barrier = threading.Barrier(2)
    results: list[Advance] = []

    def deliver() -> None:
        try:
            barrier.wait()
            results.append(saga_advance(saga_id=saga.saga_id))
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then
    assert sorted(results) == [Advance.LEASED, Advance.RAN]
    assert CALLS[(str(saga.saga_id), f"reserve:{StepKind.ACTION}")] == 1
    assert log_of(saga) == [("reserve", "ACTION", 1, StepOutcome.SUCCEEDED)]


@pytest.mark.django_db(transaction=True)
def test_a_step_slower_than_its_lease_keeps_the_lease_until_it_finishes(
    settings: SettingsWrapper,
) -> None:
    # given: a one-second lease and a step that takes three times as long, run by a worker
    # (a lease of one second leaves the keeper's renewals, every third of it, room for the
    # stalls of a machine busy with the rest of the suite)
    settings.SAGA_LEASE = timedelta(seconds=1)
    saga = start_test_saga(script={"reserve": "sleep:3.0"})
    worker, first = advancing_in_a_thread(saga.saga_id)
    # when: other deliveries come after the first lease would have expired
    later = []
    for pause in (1.6, 0.8):
        time.sleep(pause)
        later.append(saga_advance(saga_id=saga.saga_id))
    worker.join()
    # then: the step ran once, and its outcome was recorded
    assert (first, later) == ([Advance.RAN], [Advance.LEASED, Advance.LEASED])
    assert CALLS[(str(saga.saga_id), f"reserve:{StepKind.ACTION}")] == 1
    assert log_of(saga)[0] == ("reserve", "ACTION", 1, StepOutcome.SUCCEEDED)


@pytest.mark.django_db(transaction=True)
def test_one_keeper_renews_the_leases_of_several_slow_steps_in_one_process(
    settings: SettingsWrapper,
) -> None:
    # given: a short lease and three sagas whose steps each take three leases, run at once by
    # three threads of one worker process
    settings.SAGA_LEASE = timedelta(milliseconds=400)
    sagas = [start_test_saga(script={"reserve": "sleep:1.2"}) for _ in range(3)]
    running = [advancing_in_a_thread(saga.saga_id, worker=f"w-{saga.saga_id}") for saga in sagas]
    # when: other deliveries come after the first leases would have expired
    time.sleep(0.7)
    later = [saga_advance(saga_id=saga.saga_id) for saga in sagas]
    keepers = [t for t in threading.enumerate() if t.name == "saga-lease-keeper"]
    for thread, _ in running:
        thread.join()
    results = [answer for _, answers in running for answer in answers]
    # then: every lease was kept by the process's one keeper, and every step ran once
    assert later == [Advance.LEASED] * 3
    assert len(keepers) == 1
    assert results == [Advance.RAN] * 3
    for saga in sagas:
        assert CALLS[(str(saga.saga_id), f"reserve:{StepKind.ACTION}")] == 1
        assert log_of(saga)[0] == ("reserve", "ACTION", 1, StepOutcome.SUCCEEDED)


@pytest.mark.django_db(transaction=True)
def test_a_renewal_that_raises_unexpectedly_does_not_stop_the_keeper(
    settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a short lease, a slow step, and a renewal that fails once with a bug
    settings.SAGA_LEASE = timedelta(milliseconds=400)
    failures = iter([RuntimeError("a bug in a renewal")])
    compare_and_set = Lease._compare_and_set

    def failing_once(self: Lease, now: datetime) -> bool:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return compare_and_set(self, now)

    monkeypatch.setattr(Lease, "_compare_and_set", failing_once)
    saga = start_test_saga(script={"reserve": "sleep:1.2"})
    worker, first = advancing_in_a_thread(saga.saga_id)
    # when: another delivery comes after the first lease would have expired
    time.sleep(0.8)
    later = saga_advance(saga_id=saga.saga_id)
    worker.join()
    # then: the keeper went on renewing; the step ran once
    assert (first, later) == ([Advance.RAN], Advance.LEASED)
    assert next(failures, None) is None
    assert CALLS[(str(saga.saga_id), f"reserve:{StepKind.ACTION}")] == 1


def hanging_past_the_time_limit(
    settings: SettingsWrapper, *, marker: bool = False
) -> tuple[SagaInstance, threading.Thread, list[Advance]]:
    """A saga whose first step (two seconds) a threaded worker "hung" runs past the task's
    hard time limit (0.6 s) under a 300 ms lease: the saga, the thread, its answer. With
    `marker`, the step has writes to commit with its outcome."""
    settings.SAGA_LEASE = timedelta(milliseconds=300)
    settings.CELERY_TASK_TIME_LIMIT = 0.6
    saga = start_test_saga(script={"reserve": "sleep:2.0"}, **({"marker": True} if marker else {}))
    worker, hung = advancing_in_a_thread(saga.saga_id, worker="hung")
    return saga, worker, hung


def without_the_hang(saga: SagaInstance) -> uuid.UUID:
    """The saga's id, its step no longer hanging for the runs after this."""
    SagaInstance.objects.filter(pk=saga.pk).update(saga_data={**saga.saga_data, "script": {}})
    return saga.saga_id


@pytest.mark.django_db(transaction=True)
def test_a_step_that_hangs_past_the_hard_time_limit_is_let_go_and_taken_over(
    settings: SettingsWrapper,
) -> None:
    # given: a threaded worker (nothing can kill its thread) whose step hangs past the task's
    # hard time limit, with writes to commit with its outcome
    saga, worker, hung = hanging_past_the_time_limit(settings, marker=True)
    # when: another worker tries while the limit has not passed, then after its lease lapsed
    time.sleep(0.4)
    before_the_limit = saga_advance(saga_id=saga.saga_id, worker="second")
    time.sleep(0.7)
    after_the_limit = saga_advance(saga_id=without_the_hang(saga), worker="second")
    worker.join()
    # then: renewed until the limit, let go after it; the hung run's late outcome is dropped
    assert (before_the_limit, after_the_limit, hung) == (
        Advance.LEASED,
        Advance.RAN,
        [Advance.LEASE_LOST],
    )
    saga.refresh_from_db()
    assert (saga.current_step, saga.completed_steps) == ("charge", ["reserve"])
    # and the writes the hung run meant to commit with its outcome went with it; the second
    # run's were committed with the second run's outcome
    taken_over_marker, hung_marker = MARKERS[str(saga.saga_id)]  # in the order they ran
    assert load(hung_marker) == []
    assert len(load(taken_over_marker)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_late_outcome_without_writes_is_dropped_outside_any_transaction(
    settings: SettingsWrapper,
) -> None:
    # given: a worker whose step (no writes to commit with its outcome: the outcome is one
    # statement, run in autocommit) hangs past the hard time limit and is taken over
    saga, worker, hung = hanging_past_the_time_limit(settings)
    time.sleep(1.1)
    taken_over = saga_advance(saga_id=without_the_hang(saga), worker="second")
    # when: the hung run finishes and tries to record its outcome
    worker.join()
    # then: its outcome is dropped (nothing written, no error), the second run's stands
    assert (taken_over, hung) == (Advance.RAN, [Advance.LEASE_LOST])
    saga.refresh_from_db()
    assert (saga.current_step, saga.completed_steps) == ("charge", ["reserve"])
    assert [(row[0], row[3]) for row in log_of(saga)] == [
        ("reserve", StepOutcome.ABANDONED),
        ("reserve", StepOutcome.SUCCEEDED),
    ]


@pytest.mark.django_db(transaction=True)
def test_a_renewal_that_committed_but_whose_answer_was_lost_keeps_the_lease(
    settings: SettingsWrapper,
) -> None:
    # given: a short lease and a slow step, claimed and run by "w1" while its lease is renewed
    settings.SAGA_LEASE = timedelta(milliseconds=300)
    saga = start_test_saga(script={"reserve": "sleep:1.0"})
    worker, result = advancing_in_a_thread(saga.saga_id, worker="w1")
    deadline = time.monotonic() + 0.5
    while not SagaInstance.objects.filter(pk=saga.pk, lease_owner="w1").exists():
        assert time.monotonic() < deadline, "the step was never claimed"
        time.sleep(0.01)
    # when: a renewal commits but its answer never reaches the lease keeper — the row moves
    # one version ahead with a later expiry and the same owner, exactly as a renewal would
    now = timezone.now()
    bumped = SagaInstance.objects.filter(pk=saga.pk, lease_owner="w1").update(
        lease_expires_at=now + settings.SAGA_LEASE, version=F("version") + 1, updated_at=now
    )
    assert bumped == 1
    # then: the keeper's next renewal adopts that version, keeps the lease while the step
    # runs on past it, and the step's outcome is recorded
    time.sleep(0.5)
    assert saga_advance(saga_id=saga.saga_id) == Advance.LEASED
    worker.join()
    assert result == [Advance.RAN]
    assert CALLS[(str(saga.saga_id), f"reserve:{StepKind.ACTION}")] == 1
    assert log_of(saga)[0] == ("reserve", "ACTION", 1, StepOutcome.SUCCEEDED)
    saga.refresh_from_db()
    assert (saga.current_step, saga.completed_steps) == ("charge", ["reserve"])


def test_a_must_complete_step_that_fails_for_good_waits_in_failed_without_compensating() -> None:
    # given
    saga = start_test_saga(saga_type="test.must_complete", script={"refund": "transient"})
    # when
    saga = drive(saga.saga_id)
    # then
    assert (saga.status, saga.current_step) == (SagaStatus.FAILED, "refund")
    assert saga.failure_reason == "refund_unavailable"
    assert saga.completed_steps == ["reserve"]
    assert saga.compensated_steps == []
    assert saga.saga_data["trail"] == ["reserve"]
    assert [row[3] for row in log_of(saga)] == ["SUCCEEDED", "RETRY", "RETRY", "FAILED"]


def test_staff_retry_runs_a_failed_must_complete_step_again() -> None:
    # given: failed for good, then the cause is repaired
    saga = drive(start_test_saga(saga_type="test.must_complete", script={"refund": "permanent"}).pk)
    SagaInstance.objects.filter(pk=saga.pk).update(saga_data={**saga.saga_data, "script": {}})
    # when
    retried = saga_retry(saga_id=saga.saga_id, actor="staff")
    saga = drive(saga.saga_id)
    # then
    assert (retried.status, retried.attempts) == (SagaStatus.RUNNING, 0)
    assert retried.step_deadline_at is not None
    assert saga.status == SagaStatus.COMPLETED
    assert saga.saga_data["trail"] == ["reserve", "refund"]


def test_compensating_a_saga_failed_in_a_must_complete_step_undoes_the_steps_before() -> None:
    # given
    saga = drive(start_test_saga(saga_type="test.must_complete", script={"refund": "permanent"}).pk)
    # when
    saga_compensate(saga_id=saga.saga_id, actor="staff")
    saga = drive(saga.saga_id)
    # then
    assert saga.status == SagaStatus.COMPENSATED
    assert saga.failure_reason == "refund_refused"
    assert saga.saga_data["trail"] == ["reserve", "undo_reserve"]


def test_only_at_steps_refuses_to_compensate_a_saga_past_them() -> None:
    # given: a saga at "charge"
    saga = start_test_saga(saga_type="test.deadline", script={"charge": "transient"})
    saga_advance(saga_id=saga.saga_id)
    # when / then
    with pytest.raises(SagaIllegalTransition):
        saga_compensate(saga_id=saga.saga_id, only_at_steps=("reserve",))
    assert SagaInstance.objects.get(pk=saga.pk).status == SagaStatus.RUNNING
    saga_compensate(saga_id=saga.saga_id, only_at_steps=("reserve", "charge"))
    assert SagaInstance.objects.get(pk=saga.pk).status == SagaStatus.COMPENSATING


def test_waking_a_saga_makes_its_waiting_retry_due_now() -> None:
    # given: "charge" failed and waits seconds for its next attempt
    saga = start_test_saga(saga_type="test.deadline", script={"charge": "transient"})
    saga_advance(saga_id=saga.saga_id)
    saga_advance(saga_id=saga.saga_id)
    assert saga_advance(saga_id=saga.saga_id) == Advance.NOT_DUE
    # when
    woken = saga_wake(saga_id=saga.saga_id)
    # then
    assert woken
    assert saga_advance(saga_id=saga.saga_id) == Advance.RAN


def test_waking_leaves_leased_due_and_finished_sagas_alone() -> None:
    # given
    leased = start_test_saga(saga_type="test.deadline", script={"charge": "transient"})
    saga_advance(saga_id=leased.saga_id)
    saga_advance(saga_id=leased.saga_id)
    SagaInstance.objects.filter(pk=leased.pk).update(
        lease_owner="other", lease_expires_at=timezone.now() + timedelta(minutes=1)
    )
    due = start_test_saga()
    finished = drive(start_test_saga().pk)
    # when / then
    assert not saga_wake(saga_id=leased.saga_id)
    assert not saga_wake(saga_id=due.saga_id)
    assert not saga_wake(saga_id=finished.saga_id)
    assert not saga_wake(saga_id=uuid.uuid4())


def test_staff_acting_on_a_saga_whose_worker_died_close_its_dead_attempt(
    settings: SettingsWrapper,
) -> None:
    # given: a worker died in "reserve" and its lease has expired
    settings.SAGA_LEASE = timedelta(milliseconds=100)
    saga = start_test_saga(script={"reserve": "die"})
    with pytest.raises(WorkerDied):
        saga_advance(saga_id=saga.saga_id, worker="dead-worker")
    time.sleep(0.15)
    # when
    saga_compensate(saga_id=saga.saga_id, reason="stuck", actor="staff")
    # then
    saga = drive(saga.saga_id)
    assert saga.status == SagaStatus.COMPENSATED
    assert log_of(saga) == [("reserve", "ACTION", 1, "ABANDONED")]
