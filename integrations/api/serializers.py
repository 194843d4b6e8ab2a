from __future__ import annotations

from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from integrations.cloudevents import event_type_of, published_event_types
from integrations.cursor import START, FeedPosition, InvalidCursor, cursor_decode
from integrations.feed import MAX_LIMIT
from integrations.longpoll import MAX_WAIT_SECONDS

DEFAULT_LIMIT = 100


class FeedQuerySerializer(serializers.Serializer[Any]):
    after = serializers.CharField(
        required=False, help_text="The `next` of the previous page, or an event's `position`."
    )
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)
    types = serializers.CharField(
        required=False,
        help_text="Comma-separated CloudEvents types, e.g. commerce.orders.OrderPaid.",
    )
    wait = serializers.FloatField(min_value=0, max_value=MAX_WAIT_SECONDS, default=0)

    def validate_after(self, value: str) -> FeedPosition:
        try:
            return cursor_decode(value)
        except InvalidCursor as exc:
            raise serializers.ValidationError(exc.detail) from None

    def validate_types(self, value: str) -> frozenset[str]:
        names = [name.strip() for name in value.split(",") if name.strip()]
        if not names:
            raise serializers.ValidationError("Name at least one event type.")
        known = published_event_types()
        event_types = {name: event_type_of(name) for name in names}
        unknown = sorted(name for name, found in event_types.items() if found not in known)
        if unknown:
            raise serializers.ValidationError(f"Unknown event types: {', '.join(unknown)}.")
        return frozenset(t for t in event_types.values() if t is not None)

    def position(self) -> FeedPosition:
        after: FeedPosition = self.validated_data.get("after", START)
        return after


# The envelope, for the schema only (the view renders `to_cloudevent` as it is). Built with
# inline_serializer: `source` and `data` are names a Serializer class cannot declare.
CLOUD_EVENT_SCHEMA = inline_serializer(
    name="CloudEvent",
    fields={
        "specversion": serializers.CharField(),
        "id": serializers.UUIDField(help_text="The event's id: what a receiver de-duplicates on."),
        "source": serializers.CharField(),
        "type": serializers.CharField(help_text="commerce.orders.<EventType>"),
        "subject": serializers.UUIDField(help_text="The order's id."),
        "time": serializers.DateTimeField(),
        "datacontenttype": serializers.CharField(),
        "sequence": serializers.IntegerField(help_text="The order stream's version."),
        "position": serializers.CharField(help_text="The cursor that resumes right after it."),
        "data": serializers.DictField(),
    },
)

FEED_PAGE_SCHEMA = inline_serializer(
    name="FeedPage",
    fields={
        "events": serializers.ListField(child=CLOUD_EVENT_SCHEMA),
        "next": serializers.CharField(help_text="The cursor for the next page."),
    },
)
