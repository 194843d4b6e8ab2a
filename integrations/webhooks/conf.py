"""The webhook settings that need parsing, read on each use so tests can change them."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.dateparse import parse_duration


def retry_schedule() -> list[float]:
    """The delays before the 2nd, 3rd, ... attempt (WEBHOOK_RETRY_SCHEDULE_SECONDS)."""
    raw = str(settings.WEBHOOK_RETRY_SCHEDULE_SECONDS)
    try:
        delays = [float(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise ImproperlyConfigured(
            f"WEBHOOK_RETRY_SCHEDULE_SECONDS={raw!r}: comma-separated seconds, e.g. 5,30,300"
        ) from None
    if any(delay < 0 for delay in delays):
        raise ImproperlyConfigured("WEBHOOK_RETRY_SCHEDULE_SECONDS: delays cannot be negative")
    return delays


def max_attempts() -> int:
    return len(retry_schedule()) + 1


def disable_after() -> timedelta:
    """WEBHOOK_DISABLE_AFTER: plain seconds, or anything Django's parse_duration reads."""
    raw = str(settings.WEBHOOK_DISABLE_AFTER).strip()
    try:
        return timedelta(seconds=float(raw))
    except ValueError:
        pass
    duration = parse_duration(raw)
    if duration is None:
        raise ImproperlyConfigured(
            f"WEBHOOK_DISABLE_AFTER={raw!r}: seconds, or a duration such as P3D or '3 00:00:00'"
        )
    return duration
