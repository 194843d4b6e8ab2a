from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from .domain import SagaStatus, StepKind, StepOutcome


def _choices(
    enum_type: type[SagaStatus] | type[StepKind] | type[StepOutcome],
) -> list[tuple[str, str]]:
    return [(member.value, member.value) for member in enum_type]


# Staff actions on a saga: the admin's actions; retry also in the API.
RETRY_SAGA = "sagas.retry_saga"
COMPENSATE_SAGA = "sagas.compensate_saga"
RESOLVE_SAGA = "sagas.resolve_saga"


class SagaInstance(models.Model):
    """One running (or finished) saga. Every update is a compare-and-set on `version`; a
    worker owns the saga while `lease_owner` holds an unexpired lease."""

    saga_id = models.UUIDField(primary_key=True)
    saga_type = models.CharField(max_length=100)
    correlation_id = models.CharField(max_length=255, db_index=True)
    owner_id = models.UUIDField(
        null=True, blank=True, db_index=True, help_text="The user who may see it (e.g. customer)."
    )
    current_step = models.CharField(max_length=100, blank=True)
    saga_data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    status = models.CharField(
        max_length=16, choices=_choices(SagaStatus), default=SagaStatus.RUNNING
    )
    completed_steps = models.JSONField(default=list)
    compensated_steps = models.JSONField(default=list)
    failure_reason = models.CharField(max_length=100, blank=True)
    version = models.PositiveIntegerField(default=1)
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="When a run was last published to the broker."
    )
    step_deadline_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts of the current step.")
    last_error = models.TextField(blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "saga_instances"
        ordering = ["-created_at"]
        permissions = [
            ("retry_saga", "Can retry a failed saga's compensation"),
            ("compensate_saga", "Can compensate a saga"),
            ("resolve_saga", "Can mark a failed saga resolved by hand"),
        ]
        indexes = [
            # What the sweeper scans: only active sagas, by due time.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status__in=["RUNNING", "COMPENSATING"]),
                name="saga_instances_due_idx",
            ),
            models.Index(fields=["status", "saga_type"], name="saga_instances_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.saga_type} {self.saga_id} ({self.status})"


class SagaStepLog(models.Model):
    """One row per attempt of a step or a compensation."""

    saga = models.ForeignKey(SagaInstance, on_delete=models.CASCADE, related_name="step_log")
    step = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=_choices(StepKind))
    attempt = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16, choices=_choices(StepOutcome))
    error = models.TextField(blank=True)
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "saga_step_log"
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.step} {self.kind} #{self.attempt}: {self.outcome}"
