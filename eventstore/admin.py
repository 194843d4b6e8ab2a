"""Read-only admin for the log, snapshots and projection checkpoints: the log is append-only
and checkpoints belong to the runners, so nothing here can add, change or delete."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from commerce_project.admin import ReadOnlyModelAdmin

from .events import redacted_event_data
from .models import Event, ProjectionCheckpoint, ProjectionRebuild, Snapshot
from .projections import checkpoint_get, projection_lag, projection_registry


def _pretty(value: Any) -> str:
    return format_html(
        '<pre style="white-space: pre-wrap; margin: 0">{}</pre>',
        json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False),
    )


@admin.register(Event)
class EventAdmin(ReadOnlyModelAdmin):
    list_display = (
        "global_position",
        "aggregate_type",
        "aggregate_id",
        "version",
        "event_type",
        "created_at",
        "correlation_id",
    )
    list_filter = ("aggregate_type", "event_type")
    search_fields = ("aggregate_id",)
    search_help_text = "Exact aggregate id (UUID)."
    ordering = ("-global_position",)
    # Counting the whole log for every page view gets slow as it grows.
    show_full_result_count = False
    fields = (
        "id",
        "aggregate_type",
        "aggregate_id",
        "version",
        "event_type",
        "created_at",
        "global_position",
        "transaction_id",
        "data",
        "meta",
    )
    readonly_fields = fields

    @admin.display(description="event data")
    def data(self, obj: Event) -> str:
        # Redacted as in every read surface: secrets (a payment token) never show here.
        return _pretty(redacted_event_data(obj.event_type, obj.event_data))

    @admin.display(description="metadata")
    def meta(self, obj: Event) -> str:
        return _pretty(obj.metadata)

    @admin.display(description="correlation id")
    def correlation_id(self, obj: Event) -> str:
        return str((obj.metadata or {}).get("correlation_id", ""))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Event], search_term: str
    ) -> tuple[QuerySet[Event], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            aggregate_id = uuid.UUID(term)
        except ValueError:
            return queryset.none(), False
        return queryset.filter(aggregate_id=aggregate_id).order_by("version"), False


@admin.register(Snapshot)
class SnapshotAdmin(ReadOnlyModelAdmin):
    list_display = ("aggregate_id", "aggregate_type", "version", "schema_version", "created_at")
    list_filter = ("aggregate_type",)
    search_fields = ("aggregate_id",)
    fields = (
        "aggregate_id",
        "aggregate_type",
        "version",
        "schema_version",
        "created_at",
        "pretty_state",
    )
    readonly_fields = fields

    @admin.display(description="state")
    def pretty_state(self, obj: Snapshot) -> str:
        return _pretty(obj.state)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Snapshot], search_term: str
    ) -> tuple[QuerySet[Snapshot], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(aggregate_id=uuid.UUID(term)), False
        except ValueError:
            return queryset.none(), False


@admin.register(ProjectionCheckpoint)
class ProjectionCheckpointAdmin(ReadOnlyModelAdmin):
    list_display = (
        "name",
        "mode",
        "transaction_id",
        "global_position",
        "events_processed",
        "lag",
        "updated_at",
    )
    fields = list_display
    readonly_fields = fields

    @admin.display(description="mode")
    def mode(self, obj: ProjectionCheckpoint) -> str:
        projection = projection_registry().get(obj.name)
        if projection is None:
            return "not registered"
        return "inline" if projection.inline else "async"

    @admin.display(description="lag (events)")
    def lag(self, obj: ProjectionCheckpoint) -> str:
        projection = projection_registry().get(obj.name)
        if projection is None:
            return "-"
        return str(projection_lag(projection, checkpoint_get(obj.name)))


@admin.register(ProjectionRebuild)
class ProjectionRebuildAdmin(ReadOnlyModelAdmin):
    list_display = (
        "name",
        "shadow_table",
        "events_processed",
        "transaction_id",
        "global_position",
        "started_at",
        "updated_at",
    )
    fields = list_display
    readonly_fields = fields
