from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rest_framework import serializers

from eventstore.events import event_class
from eventstore.exceptions import UnknownEventType
from integrations.cloudevents import INTERNAL_EVENT_TYPES, event_type_of

from ..models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from ..targets import TargetRefused, check_literal

ALL_TYPES = "*"


def validate_event_types(value: Sequence[str]) -> list[str]:
    """["*"], or published CloudEvents types of order events, each once."""
    chosen = list(dict.fromkeys(value))
    if not chosen:
        raise serializers.ValidationError('Name at least one event type, or ["*"] for all.')
    if ALL_TYPES in chosen:
        if len(chosen) > 1:
            raise serializers.ValidationError('"*" stands alone: it already means every type.')
        return chosen
    for name in chosen:
        event_type = event_type_of(name)
        known = True
        if event_type is None or event_type in INTERNAL_EVENT_TYPES:
            known = False
        else:
            try:
                event_class(event_type)
            except UnknownEventType:
                known = False
        if not known:
            raise serializers.ValidationError(
                f"{name!r} is not a published event type (e.g. commerce.orders.OrderPaid)."
            )
    return chosen


def validate_target(url: str) -> str:
    try:
        check_literal(url)
    except TargetRefused as refusal:
        raise serializers.ValidationError(str(refusal)) from None
    return url


class WebhookSubscriptionSerializer(serializers.ModelSerializer[WebhookSubscription]):
    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "active",
            "failing_since",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WebhookSubscriptionWithSecretSerializer(WebhookSubscriptionSerializer):
    """The answer that creates or rotates a secret: the only time it is shown."""

    secret = serializers.SerializerMethodField()

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, obj: WebhookSubscription) -> str:
        return str(self.context["secret"])


class WebhookSubscriptionCreateSerializer(serializers.Serializer[Any]):
    url = serializers.URLField(max_length=2000)
    event_types = serializers.ListField(child=serializers.CharField(max_length=200))
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)

    def validate_url(self, value: str) -> str:
        return validate_target(value)

    def validate_event_types(self, value: list[str]) -> list[str]:
        return validate_event_types(value)


class WebhookSubscriptionUpdateSerializer(serializers.Serializer[Any]):
    url = serializers.URLField(max_length=2000, required=False)
    event_types = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)

    def validate_url(self, value: str) -> str:
        return validate_target(value)

    def validate_event_types(self, value: list[str]) -> list[str]:
        return validate_event_types(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError(
                "Send at least one of url, event_types, description, active."
            )
        return attrs


class WebhookDeliverySerializer(serializers.ModelSerializer[WebhookDelivery]):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "last_response_code",
            "next_attempt_at",
            "last_error",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


class PingResultSerializer(serializers.Serializer[Any]):
    delivered = serializers.BooleanField()
    response_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
