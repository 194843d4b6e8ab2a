from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from commerce_project.api.permissions import is_staff
from sagas.models import SagaInstance, SagaStepLog
from sagas.selectors import saga_steps


class SagaSerializer(serializers.ModelSerializer[SagaInstance]):
    id = serializers.UUIDField(source="saga_id", read_only=True)
    type = serializers.CharField(source="saga_type", read_only=True)

    class Meta:
        model = SagaInstance
        fields = [
            "id",
            "type",
            "correlation_id",
            "status",
            "current_step",
            "attempts",
            "failure_reason",
            "last_error",
            "next_attempt_at",
            "completed_steps",
            "compensated_steps",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class StepAttemptSerializer(serializers.ModelSerializer[SagaStepLog]):
    class Meta:
        model = SagaStepLog
        fields = ["kind", "attempt", "outcome", "error", "started_at", "finished_at"]
        read_only_fields = fields


STEP_STATES = (
    "PENDING",
    "RUNNING",
    "RETRYING",
    "SUCCEEDED",
    "FAILED",
    "COMPENSATING",
    "COMPENSATED",
    "COMPENSATION_FAILED",
)


class StepSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    state = serializers.ChoiceField(choices=STEP_STATES)
    attempts = StepAttemptSerializer(many=True)
    compensation_attempts = StepAttemptSerializer(many=True)


class SagaDetailSerializer(SagaSerializer):
    # Not required: only staff get it (see to_representation), and the schema must say so.
    saga_data = serializers.DictField(
        required=False, help_text="Staff only: the data the steps recorded."
    )
    steps = serializers.SerializerMethodField()

    class Meta(SagaSerializer.Meta):
        fields = [*SagaSerializer.Meta.fields, "saga_data", "steps"]
        read_only_fields = fields

    def to_representation(self, instance: SagaInstance) -> dict[str, Any]:
        body: dict[str, Any] = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or not is_staff(request.user):
            # Step data may hold payment tokens and gateway references: staff only.
            body.pop("saga_data", None)
        return body

    @extend_schema_field(StepSerializer(many=True))
    def get_steps(self, saga: SagaInstance) -> list[dict[str, Any]]:
        return list(StepSerializer(saga_steps(saga=saga), many=True).data)
