"""The order page's event timeline and its time travel: every timeline row links to the
order as it was at that version (the fold `GET orders/{id}/history/?version=N` answers,
`selectors.order_as_of`), with what that event changed from the version before."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from django.contrib.admin import ModelAdmin
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from commerce_project.admin import admin_datetime
from eventstore.events import redacted_event_data, serialize_event
from eventstore.store import RecordedEvent, load

from . import selectors
from .changes import order_changes
from .domain import INTERNAL_EVENT_TYPES
from .projections import order_view_row


def version_url(order_id: UUID, version: int) -> str:
    return reverse("admin:orders_orderview_version", args=[order_id, version])


def _pretty_json(data: Any) -> str:
    """Event data as staff read it: indented JSON with keys sorted (escaped by the caller)."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, cls=DjangoJSONEncoder)


def event_data_json(event: RecordedEvent) -> str:
    return _pretty_json(redacted_event_data(event.event_type, serialize_event(event.event)))


def timeline_html(order_id: UUID, *, current: int | None = None) -> SafeString:
    """Every event of the order, oldest first: its version (a link to the order as it was
    then), when, what, who, and its data. Notes are marked internal; `current` is bold."""
    rows = format_html_join(
        "",
        '<tr class="{}"><td><a href="{}" title="The order as it was at this version">{}{}</a>'
        "</td><td>{}</td><td>{}</td><td>{}</td>"
        '<td><pre style="margin:0;white-space:pre-wrap">{}</pre></td></tr>',
        (
            (
                "internal-note" if e.event_type in INTERNAL_EVENT_TYPES else "",
                version_url(order_id, e.version),
                "v",
                e.version if e.version != current else format_html("<b>{}</b>", e.version),
                admin_datetime(e.created_at),
                e.event_type + (" (internal)" if e.event_type in INTERNAL_EVENT_TYPES else ""),
                e.metadata.get("actor", ""),
                event_data_json(e),
            )
            for e in load(order_id)
        ),
    )
    return format_html(
        '<table class="order-timeline"><thead><tr><th>Version</th><th>At</th><th>Event</th>'
        "<th>Actor</th><th>Data</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )


def _shown(value: Any) -> str:
    """A row value as the page shows it."""
    if value is None or value == "":
        return "-"
    if hasattr(value, "tzinfo"):
        return admin_datetime(value)
    if isinstance(value, dict):
        return ", ".join(str(v) for v in value.values() if v)
    return str(value)


def order_version_view(
    model_admin: ModelAdmin[Any], request: HttpRequest, order_id: UUID, version: int
) -> HttpResponse:
    """The order as it was at `version`, what its event changed, and the timeline."""
    order = selectors.order_as_of(user=request.user, order_id=order_id, version=version)
    row = order_view_row(order)
    previous = (
        order_view_row(
            selectors.order_as_of(user=request.user, order_id=order_id, version=version - 1)
        )
        if version > 1
        else None
    )
    changes = order_changes(previous, row)
    event = load(order_id, from_version=version, to_version=version)[0]
    last = selectors.order_view_get(user=request.user, order_id=order_id).version
    fields = [
        (name, _shown(value))
        for name, value in row.items()
        if name not in ("items", "skus", "order_id", "saga_id")
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Order {str(order_id)[:8]} at version {version} of {last}",
        "order_id": order_id,
        "version": version,
        "event": event,
        "event_at": admin_datetime(event.created_at),
        "event_json": event_data_json(event),
        "change_url": reverse("admin:orders_orderview_change", args=[order_id]),
        "previous_url": version_url(order_id, version - 1) if version > 1 else None,
        "next_url": version_url(order_id, version + 1) if version < last else None,
        "field_changes": [(c.field, _shown(c.before), _shown(c.after)) for c in changes.fields],
        "line_changes": changes.lines,
        "fields": fields,
        "lines": row["items"],
        "timeline": timeline_html(order_id, current=version),
    }
    return TemplateResponse(request, "admin/orders/orderview/version.html", context)
