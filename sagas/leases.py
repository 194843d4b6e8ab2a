"""Keeping a claimed saga's lease while its step runs.

A step may run longer than SAGA_LEASE (a slow gateway); its lease is renewed every third of
the lease until the step ends, so no second worker takes the saga meanwhile. One keeper
thread per process renews every lease the process holds, instead of a thread per step: most
steps end long before their first renewal is due, and then holding a lease costs a dict
entry, not a thread started and joined (which, on a busy machine, waited for the scheduler
four times per saga).

Each renewal is a compare-and-set on the saga's version and owner that bumps the version,
so a sweeper, a staff action or another worker's claim that read the saga before it cannot
write over it; `Lease.version` is the one the step's outcome must be recorded against. A
renewal whose compare-and-set fails means the lease was lost: it is no longer renewed, and
the outcome's own compare-and-set then fails too (LEASE_LOST).

A step that hangs is ended at CELERY_TASK_TIME_LIMIT, as a prefork worker's hard time limit
kills the child running it. Nothing can kill a thread, so in a threaded worker (as deployed;
commerce_project/celery.py says so at start-up) the keeper ends the whole process, logging
why: its other tasks are redelivered (acks_late) or their sagas taken over when their leases
lapse, like after any crash, and the supervisor starts a new process. Elsewhere (a test, a
shell) the lease is no longer renewed, so the saga can be taken over, and the late run's
outcome is dropped.

The keeper renews on a database connection of its own (its thread's), given back after
each round, under a statement timeout of a third of the lease so that one stuck renewal
cannot hold up the others. A keeper thread that died of a bug is started again on the next
lease held.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from .domain import ACTIVE_STATUSES
from .models import SagaInstance

logger = logging.getLogger(__name__)


class Lease:
    """One claimed saga's lease, renewed by the keeper until released."""

    def __init__(self, saga_id: uuid.UUID, worker: str, version: int, every: float) -> None:
        self.saga_id, self.worker, self.version = saga_id, worker, version
        self.every = every
        self.held_since = time.monotonic()
        self.due = self.held_since + every
        self.lost = False
        self.released = False
        # Held while a renewal of this lease is in flight, so that release() waits for it
        # and the version it returns is the last one written.
        self.renewing = threading.Lock()

    def renew(self) -> None:
        with self.renewing:
            if self.released or self.lost:
                return
            limit = settings.CELERY_TASK_TIME_LIMIT
            if limit and time.monotonic() - self.held_since >= limit:
                self._hung(limit)
                return
            now = timezone.now()
            try:
                with transaction.atomic():
                    _statement_timeout(self.every)
                    renewed = self._compare_and_set(now) or self._renewed_unanswered(now)
            except DatabaseError:
                logger.warning("saga %s: lease renewal failed; trying again", self.saga_id)
                connection.close()
                self.due = time.monotonic() + min(self.every, 1.0)
                return
            if not renewed:
                logger.warning(
                    "saga %s: %s lost its lease during the step", self.saga_id, self.worker
                )
                self.lost = True
                return
            self.version += 1
            self.due = time.monotonic() + self.every

    def _hung(self, limit: float) -> None:
        if _end_process_when_a_step_hangs:
            logger.critical(
                "saga %s: the step of %s has run past CELERY_TASK_TIME_LIMIT (%s s); ending "
                "this worker process, as a prefork worker's hard time limit ends its child",
                self.saga_id,
                self.worker,
                limit,
            )
            # Not logging.shutdown(): it takes every handler's lock, and a hung thread may
            # hold one. The line above is written already (handlers flush per record).
            os._exit(_HUNG_STEP_EXIT_CODE)
        logger.error(
            "saga %s: the step of %s has run past CELERY_TASK_TIME_LIMIT (%s s); its lease is "
            "no longer renewed, so another worker may take the saga over",
            self.saga_id,
            self.worker,
            limit,
        )
        self.lost = True

    def _compare_and_set(self, now: datetime) -> bool:
        return bool(
            SagaInstance.objects.filter(
                pk=self.saga_id, version=self.version, lease_owner=self.worker
            ).update(
                lease_expires_at=now + settings.SAGA_LEASE,
                version=F("version") + 1,
                updated_at=now,
            )
        )

    def _renewed_unanswered(self, now: datetime) -> bool:
        """Whether an earlier renewal committed but its answer was lost (the connection
        dropped before the reply, so the DatabaseError branch kept the old version): the row
        is still active, still leased by this worker and unexpired, and exactly one version
        ahead. Then that version is ours to adopt. (The sweeper and a wake bump the version
        only of an expired lease and do not extend it; a claim or a staff action changes the
        owner: none of them passes.)"""
        return SagaInstance.objects.filter(
            pk=self.saga_id,
            version=self.version + 1,
            lease_owner=self.worker,
            lease_expires_at__gt=now,
            status__in=ACTIVE_STATUSES,
        ).exists()

    def release(self) -> int:
        """Stop renewing; the version the outcome must be recorded against."""
        with self.renewing:
            self.released = True
            return self.version


class _Keeper:
    """The process's keeper thread and the leases it renews."""

    def __init__(self) -> None:
        self.leases: set[Lease] = set()
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="saga-lease-keeper", daemon=True)
        self.thread.start()

    def hold(self, lease: Lease) -> None:
        with self.changed:
            self.leases.add(lease)
            self.changed.notify()

    def drop(self, lease: Lease) -> None:
        with self.changed:
            self.leases.discard(lease)

    def _run(self) -> None:
        while True:
            with self.changed:
                now = time.monotonic()
                due = [lease for lease in self.leases if lease.due <= now]
                if not due:
                    nearest = min((lease.due for lease in self.leases), default=now + 60)
                    self.changed.wait(timeout=max(nearest - now, 0.001))
                    continue
            for lease in due:
                try:
                    lease.renew()
                except Exception:  # a bug: keep renewing the others, try this one again
                    logger.exception("saga %s: lease renewal failed", lease.saga_id)
                    lease.due = time.monotonic() + min(lease.every, 1.0)
                if lease.lost:
                    self.drop(lease)
            try:
                connection.close()  # back to the pool between rounds
            except Exception:
                logger.exception("the lease keeper could not give its connection back")


_keeper: _Keeper | None = None
_keeper_pid = 0
_keeper_started = threading.Lock()


def _the_keeper() -> _Keeper:
    """This process's keeper, started on first use (and again in a forked child, which
    inherits the parent's object but not its thread)."""
    global _keeper, _keeper_pid
    with _keeper_started:
        if _keeper is None or _keeper_pid != os.getpid():
            _keeper, _keeper_pid = _Keeper(), os.getpid()
        elif not _keeper.thread.is_alive():
            logger.error("the saga lease keeper had stopped; starting it again")
            dead, _keeper = _keeper, _Keeper()
            for lease in list(dead.leases):
                _keeper.hold(lease)
        return _keeper


_end_process_when_a_step_hangs = False
_HUNG_STEP_EXIT_CODE = 70  # EX_SOFTWARE


def end_the_process_when_a_step_hangs() -> None:
    """Called at start-up by a worker whose pool cannot kill a task (threads, solo)."""
    global _end_process_when_a_step_hangs
    _end_process_when_a_step_hangs = True


def _statement_timeout(seconds: float) -> None:
    """This transaction's statements give up after `seconds` (at least 100 ms)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, true)",
            [f"{max(int(seconds * 1000), 100)}ms"],
        )


@contextmanager
def lease_kept(saga_id: uuid.UUID, worker: str, version: int) -> Iterator[Lease]:
    """Renew the lease every third of SAGA_LEASE while the block runs; on exit the lease's
    `version` is final."""
    lease = Lease(saga_id, worker, version, settings.SAGA_LEASE.total_seconds() / 3)
    keeper = _the_keeper()
    keeper.hold(lease)
    try:
        yield lease
    finally:
        lease.release()
        keeper.drop(lease)
