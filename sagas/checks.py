"""Start-up check that the fulfilment timers nest (a Django system check, run by manage.py
commands such as migrate and runserver, and by Celery workers and beat at start-up).

The saga holds stock and an uncaptured authorization while an order waits for payment. The
longest it can wait before capturing is the payment timeout (after which the saga is
compensated) plus one capture step (its deadline, plus the longest a run that started just
before it may last: the task's hard time limit, or a lease if that is longer). That window
must end before the reservation expires and before the gateway lets the authorization lapse;
and a single step's deadline must be shorter than the payment timeout, or the timeout could
never be reached:

    run = max(SAGA_LEASE, CELERY_TASK_TIME_LIMIT)
    FULFILMENT_STEP_DEADLINE < FULFILMENT_PAYMENT_TIMEOUT
    FULFILMENT_PAYMENT_TIMEOUT + FULFILMENT_STEP_DEADLINE + run < INVENTORY_RESERVATION_TTL
    FULFILMENT_PAYMENT_TIMEOUT + FULFILMENT_STEP_DEADLINE + run < authorization lifetime

(the authorization lifetime is FULFILMENT_AUTHORIZATION_LIFETIME, and with the sandbox
gateway at most PAYMENT_SANDBOX_AUTHORIZATION_TTL).

A lease longer than the step deadline is only warned about: a step whose worker died is then
retried after its deadline, i.e. it times out instead of being retried.

The lease itself is renewed while a step runs (sagas/leases.py), so however long a step
takes no second worker runs it meanwhile. What ends a step that hangs is then the Celery
task's hard time limit: a prefork pool kills the child, and in a threaded worker the lease
keeper ends the process (sagas/leases.py), so the lease expires; CELERY_TASK_TIME_LIMIT must
be set.
The lease must be positive (it is renewed every third of it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery.signals import beat_init, worker_init
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

SANDBOX_GATEWAY = "payments.sandbox.SandboxGateway"


def _seconds(value: timedelta) -> str:
    return f"{value.total_seconds():g} s"


def authorization_lifetime() -> timedelta:
    """How long the gateway keeps an authorization capturable, as far as we know it."""
    lifetime: timedelta = settings.FULFILMENT_AUTHORIZATION_LIFETIME
    if settings.PAYMENT_GATEWAY == SANDBOX_GATEWAY:
        lifetime = min(lifetime, settings.PAYMENT_SANDBOX_AUTHORIZATION_TTL)
    return lifetime


def fulfilment_timer_problems() -> list[CheckMessage]:
    step: timedelta = settings.FULFILMENT_STEP_DEADLINE
    timeout: timedelta = settings.FULFILMENT_PAYMENT_TIMEOUT
    lease: timedelta = settings.SAGA_LEASE
    reservation: timedelta = settings.INVENTORY_RESERVATION_TTL
    lifetime = authorization_lifetime()
    time_limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT or 0)
    run = max(lease, time_limit)
    window = timeout + step + run
    problems: list[CheckMessage] = []
    if step <= timedelta(0) or timeout <= timedelta(0):
        problems.append(
            Error(
                "FULFILMENT_STEP_DEADLINE_SECONDS and FULFILMENT_PAYMENT_TIMEOUT_SECONDS must "
                "be positive.",
                id="sagas.E001",
            )
        )
    if step >= timeout:
        problems.append(
            Error(
                f"The fulfilment step deadline ({_seconds(step)}) must be shorter than the "
                f"payment timeout ({_seconds(timeout)}).",
                hint="Lower FULFILMENT_STEP_DEADLINE_SECONDS or raise "
                "FULFILMENT_PAYMENT_TIMEOUT_SECONDS.",
                id="sagas.E002",
            )
        )
    if window >= reservation:
        problems.append(
            Error(
                f"An unpaid order may hold its stock for up to {_seconds(window)} (payment "
                f"timeout {_seconds(timeout)} + step deadline {_seconds(step)} + one run of "
                f"the capture step {_seconds(run)}), but reservations expire after "
                f"{_seconds(reservation)}.",
                hint="Timers must nest: step deadline < payment timeout < reservation TTL. "
                "Raise INVENTORY_RESERVATION_TTL_SECONDS or lower "
                "FULFILMENT_PAYMENT_TIMEOUT_SECONDS (or CELERY_TASK_TIME_LIMIT).",
                id="sagas.E003",
            )
        )
    if window >= lifetime:
        problems.append(
            Error(
                f"The saga may hold a payment authorization uncaptured for up to "
                f"{_seconds(window)}, but the gateway keeps it for {_seconds(lifetime)}.",
                hint="Lower FULFILMENT_PAYMENT_TIMEOUT_SECONDS, or set "
                "FULFILMENT_AUTHORIZATION_LIFETIME_SECONDS (and, for the sandbox, "
                "PAYMENT_SANDBOX_AUTHORIZATION_TTL_SECONDS) to what the gateway grants.",
                id="sagas.E004",
            )
        )
    if not settings.CELERY_TASK_TIME_LIMIT or settings.CELERY_TASK_TIME_LIMIT <= 0:
        problems.append(
            Error(
                "CELERY_TASK_TIME_LIMIT must be a positive number of seconds: a saga step "
                "keeps renewing its lease while it runs, so only the task's hard time limit "
                "ends a step that hangs.",
                hint="Set CELERY_TASK_TIME_LIMIT (default 120) above "
                "CELERY_TASK_SOFT_TIME_LIMIT: a step running that long ends its worker "
                "process (prefork: its child), whatever the pool.",
                id="sagas.E005",
            )
        )
    if lease <= timedelta(0):
        problems.append(
            Error(
                f"SAGA_LEASE_SECONDS ({_seconds(lease)}) must be positive: a worker renews "
                "its lease every third of it while a step runs.",
                id="sagas.E006",
            )
        )
    if lease >= step:
        problems.append(
            Warning(
                f"SAGA_LEASE_SECONDS ({_seconds(lease)}) is not shorter than the fulfilment "
                f"step deadline ({_seconds(step)}): a step whose worker died times out "
                "instead of being run again.",
                id="sagas.W001",
            )
        )
    return problems


@register()
def fulfilment_timers_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    return fulfilment_timer_problems()


@worker_init.connect
@beat_init.connect
def _refuse_tangled_timers(**_: Any) -> None:
    """Celery runs the system checks at start-up but ignores their answer, and only logs
    what a signal handler raises: exit instead."""
    errors = [problem for problem in fulfilment_timer_problems() if problem.is_serious()]
    if errors:
        details = "\n".join(f"{e.id}: {e.msg} {e.hint or ''}" for e in errors)
        raise SystemExit(f"Refusing to start, the saga timers do not nest:\n{details}")
