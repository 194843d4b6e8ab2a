"""Reads for the API and the admin. Customers see only the sagas they own (`owner_id`);
staff see all; someone else's saga is simply not found."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from .domain import SagaStatus, StepKind, StepOutcome
from .exceptions import SagaNotFound
from .models import SagaInstance, SagaStepLog
from .registry import find_saga_definition


def saga_list(*, user: Any) -> QuerySet[SagaInstance]:
    sagas = SagaInstance.objects.all()
    if user.is_staff:
        return sagas
    return sagas.filter(owner_id=user.pk)


def saga_get(*, user: Any, saga_id: uuid.UUID) -> SagaInstance:
    saga = saga_list(user=user).filter(pk=saga_id).first()
    if saga is None:
        raise SagaNotFound(f"No saga {saga_id}.")
    return saga


@dataclass
class StepView:
    """A step of a saga as people want to see it: where it stands and every attempt."""

    name: str
    state: str
    attempts: list[SagaStepLog] = field(default_factory=list)
    compensation_attempts: list[SagaStepLog] = field(default_factory=list)


def saga_steps(*, saga: SagaInstance) -> list[StepView]:
    log = list(saga.step_log.order_by("started_at", "id"))
    by_step: dict[str, dict[str, list[SagaStepLog]]] = defaultdict(lambda: defaultdict(list))
    for row in log:
        by_step[row.step][row.kind].append(row)
    definition = find_saga_definition(saga.saga_type)
    if definition is not None:
        names = definition.step_names
    else:  # a type no longer registered: show what the log knows, in order of appearance
        names = list(dict.fromkeys(row.step for row in log))
    return [
        StepView(
            name=name,
            state=_step_state(saga, name, by_step[name][StepKind.ACTION]),
            attempts=by_step[name][StepKind.ACTION],
            compensation_attempts=by_step[name][StepKind.COMPENSATION],
        )
        for name in names
    ]


def _step_state(saga: SagaInstance, name: str, attempts: list[SagaStepLog]) -> str:
    current = saga.current_step == name
    if name in saga.compensated_steps:
        return "COMPENSATED"
    if current and saga.status == SagaStatus.COMPENSATING:
        return "COMPENSATING"
    if current and saga.status == SagaStatus.FAILED:
        # A compensation only runs for a completed step; otherwise a must_complete action
        # failed for good.
        return "COMPENSATION_FAILED" if name in saga.completed_steps else "FAILED"
    if name in saga.completed_steps:
        return "SUCCEEDED"
    if current and saga.status == SagaStatus.RUNNING:
        return "RETRYING" if attempts and attempts[-1].outcome == StepOutcome.RETRY else "RUNNING"
    if attempts and attempts[-1].outcome == StepOutcome.FAILED:
        return "FAILED"
    return "PENDING"
