"""The saga page's timeline: every attempt of a step or a compensation from the step log,
as a horizontal bar placed by its start (milliseconds after the saga was created) and sized
by its duration, in plain HTML and CSS (no script, nothing from a CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from commerce_project.admin import admin_datetime

from .domain import StepKind, StepOutcome
from .models import SagaStepLog

_COLOURS = {
    StepOutcome.SUCCEEDED: "#3c8d40",
    StepOutcome.RETRY: "#d98c00",
    StepOutcome.FAILED: "#ba2121",
    StepOutcome.ABANDONED: "#7f7f7f",
    StepOutcome.STARTED: "#417690",
}
# A bar narrower than this is invisible; an attempt of a few ms still shows where it was.
_MIN_WIDTH_PERCENT = 0.4


@dataclass(frozen=True)
class StepBar:
    attempt: SagaStepLog
    start_ms: int
    # None: still in flight (or its worker died before reporting).
    duration_ms: int | None
    left_percent: float
    width_percent: float


def _ms(later: datetime, earlier: datetime) -> int:
    return round((later - earlier).total_seconds() * 1000)


def step_bars(origin: datetime, attempts: Sequence[SagaStepLog]) -> list[StepBar]:
    """Bars of `attempts` on one scale from `origin` (the saga's creation) to the end of the
    last attempt; an unfinished attempt is drawn to the end of the scale."""
    if not attempts:
        return []
    start = min(origin, *(a.started_at for a in attempts))
    end = max(a.finished_at or a.started_at for a in attempts)
    span = max(_ms(end, start), 1)
    bars = []
    for a in attempts:
        offset = _ms(a.started_at, start)
        duration = None if a.finished_at is None else _ms(a.finished_at, a.started_at)
        drawn = span - offset if duration is None else duration
        bars.append(
            StepBar(
                attempt=a,
                start_ms=offset,
                duration_ms=duration,
                left_percent=round(100 * offset / span, 2),
                width_percent=max(round(100 * drawn / span, 2), _MIN_WIDTH_PERCENT),
            )
        )
    return bars


def timeline_html(origin: datetime, attempts: Sequence[SagaStepLog]) -> SafeString:
    bars = step_bars(origin, attempts)
    if not bars:
        return format_html("<p>{}</p>", "No step has run yet.")
    rows = format_html_join(
        "",
        '<tr class="saga-attempt outcome-{}"><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td>'
        '<td style="text-align:right">{}</td><td style="text-align:right">{}</td>'
        '<td style="width:30%;min-width:160px"><div style="position:relative;height:14px;'
        'background:#f0f0f0"><div class="saga-bar" title="{} ms after the start, {}" '
        'style="position:absolute;top:0;bottom:0;left:{}%;width:{}%;background:{}"></div>'
        "</div></td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                b.attempt.outcome.lower(),
                "↩ " if b.attempt.kind == StepKind.COMPENSATION else "",
                b.attempt.step,
                b.attempt.kind,
                b.attempt.attempt,
                b.attempt.outcome,
                b.start_ms,
                "running" if b.duration_ms is None else b.duration_ms,
                b.start_ms,
                "still running" if b.duration_ms is None else f"{b.duration_ms} ms",
                b.left_percent,
                b.width_percent,
                _COLOURS.get(StepOutcome(b.attempt.outcome), "#417690"),
                b.attempt.error or "-",
                b.attempt.worker or "-",
                admin_datetime(b.attempt.started_at),
            )
            for b in bars
        ),
    )
    return format_html(
        '<table class="saga-timeline"><thead><tr><th>Step</th><th>Kind</th><th>Attempt</th>'
        "<th>Outcome</th><th>Start (ms)</th><th>Duration (ms)</th><th>Timeline</th>"
        "<th>Error</th><th>Worker</th><th>Started at</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )
