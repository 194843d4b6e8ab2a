"""Charts of the Operations page as inline SVG, drawn on the server: no script, no CDN, no
external URL, so the page works offline and under a strict Content-Security-Policy.

Every piece of text goes through `format_html`, which escapes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from .selectors import HourlyOrders

# One colour per status (orders and sagas share the names where they mean the same).
STATUS_COLOURS: Mapping[str, str] = {
    "DRAFT": "#b0bec5",
    "CONFIRMED": "#4fc3f7",
    "PAID": "#43a047",
    "SHIPPED": "#1e88e5",
    "DELIVERED": "#3949ab",
    "CANCELLED": "#fb8c00",
    "REFUNDED": "#8e24aa",
    "RUNNING": "#4fc3f7",
    "COMPENSATING": "#fdd835",
    "COMPLETED": "#43a047",
    "COMPENSATED": "#fb8c00",
    "FAILED": "#e53935",
}
_FALLBACK_COLOUR = "#90a4ae"


def _n(value: float) -> str:
    """A coordinate as SVG wants it (format_html escapes its arguments to strings first)."""
    return f"{value:.1f}"


def colour(status: str) -> str:
    return STATUS_COLOURS.get(status, _FALLBACK_COLOUR)


def orders_per_hour_chart(hours: Sequence[HourlyOrders], statuses: Sequence[str]) -> SafeString:
    """Stacked bars, one per hour, a segment per status; a legend under the chart."""
    width, height, left, bottom, top = 960, 220, 36, 24, 10
    plot_h = height - bottom - top
    slot = (width - left) / max(len(hours), 1)
    peak = max((h.total for h in hours), default=0) or 1
    parts: list[SafeString] = []
    for i, hour in enumerate(hours):
        x = left + i * slot
        y = float(height - bottom)
        for status in statuses:
            count = hour.by_status.get(status, 0)
            if not count:
                continue
            bar_h = plot_h * count / peak
            y -= bar_h
            parts.append(
                format_html(
                    '<rect class="bar" x="{}" y="{}" width="{}" height="{}" '
                    'fill="{}"><title>{} {}: {}</title></rect>',
                    _n(x + 1),
                    _n(y),
                    _n(max(slot - 2, 1)),
                    _n(bar_h),
                    colour(status),
                    hour.hour.strftime("%d %b %H:00"),
                    status,
                    count,
                )
            )
        if i % 6 == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" font-size="10" fill="#666">{}</text>',
                    _n(x),
                    height - 8,
                    hour.hour.strftime("%d %H:00"),
                )
            )
    axis = format_html(
        '<text x="0" y="{}" font-size="10" fill="#666">{}</text>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"/>',
        top + 10,
        peak,
        left,
        height - bottom,
        width,
        height - bottom,
    )
    svg = format_html(
        '<svg class="chart" id="orders-per-hour-chart" role="img" viewBox="0 0 {} {}" '
        'width="100%">'
        "<title>Orders per hour by status, last {} hours</title>{}{}</svg>",
        width,
        height,
        len(hours),
        axis,
        mark_safe("".join(parts)),  # each part was built with format_html
    )
    return svg + legend(statuses)


def bar_chart(chart_id: str, title: str, values: Sequence[tuple[str, int]]) -> SafeString:
    """Horizontal bars, one per (label, value), coloured by status when the label is one."""
    row_h, label_w, width = 22, 200, 640
    peak = max((v for _, v in values), default=0) or 1
    rows = format_html_join(
        "",
        '<text x="0" y="{}" font-size="12" fill="#333">{}</text>'
        '<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="{}">'
        "<title>{}: {}</title></rect>"
        '<text x="{}" y="{}" font-size="12" fill="#333">{}</text>',
        (
            (
                i * row_h + 15,
                label,
                label_w,
                i * row_h + 4,
                _n((width - label_w - 60) * value / peak),
                row_h - 8,
                colour(label),
                label,
                value,
                _n(label_w + (width - label_w - 60) * value / peak + 6),
                i * row_h + 15,
                value,
            )
            for i, (label, value) in enumerate(values)
        ),
    )
    return format_html(
        '<svg class="chart" id="{}" role="img" viewBox="0 0 {} {}" width="{}">'
        "<title>{}</title>{}</svg>",
        chart_id,
        width,
        max(len(values), 1) * row_h + 4,
        width,
        title,
        rows,
    )


def legend(statuses: Sequence[str]) -> SafeString:
    return format_html(
        '<p class="legend">{}</p>',
        format_html_join(
            " ",
            '<span style="white-space:nowrap"><svg width="10" height="10">'
            '<rect width="10" height="10" fill="{}"/></svg> {}</span>',
            ((colour(s), s) for s in statuses),
        ),
    )
