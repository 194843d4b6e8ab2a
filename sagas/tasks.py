"""Celery entry points; they only parse and call a service. acks_late, reject-on-worker-lost
and prefetch 1 are global settings (commerce_project/settings/base.py)."""

from __future__ import annotations

import uuid

from celery import shared_task

from .fulfilment import fulfilment_timeouts_enforce
from .services import saga_advance, saga_sweep


@shared_task(name="sagas.tasks.advance_saga", ignore_result=True)
def advance_saga(saga_id: str) -> str:
    return saga_advance(saga_id=uuid.UUID(saga_id), chain=True).value


@shared_task(name="sagas.tasks.sweep_sagas", ignore_result=True)
def sweep_sagas() -> int:
    return saga_sweep()


@shared_task(name="sagas.tasks.enforce_fulfilment_timeouts", ignore_result=True)
def enforce_fulfilment_timeouts() -> int:
    return fulfilment_timeouts_enforce()
