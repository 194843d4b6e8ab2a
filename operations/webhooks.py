"""Webhook backlog and failures: a HOOK for the webhooks app, which does not exist yet.

When it lands, these two functions read its deliveries table (cheap aggregates, like
operations.selectors) and the rest is already wired: `/metrics` yields what
`webhook_metric_families()` returns (meant: `commerce_webhook_deliveries_pending` and
`commerce_webhook_deliveries_failed_total{endpoint}`), and the Operations page lists what
`failing_webhooks()` returns. Until then both return nothing, and the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from prometheus_client.metrics_core import Metric

WEBHOOKS_APP = "webhooks"


@dataclass(frozen=True)
class FailingWebhook:
    endpoint: str
    failures: int
    last_error: str
    admin_url: str


def webhooks_installed() -> bool:
    return apps.is_installed(WEBHOOKS_APP)


def webhook_metric_families() -> list[Metric]:
    """HOOK: the webhook metrics; none while the webhooks app is not installed."""
    if not webhooks_installed():
        return []
    return []  # HOOK: fill in from the webhooks app's deliveries table when it exists


def failing_webhooks() -> list[FailingWebhook]:
    """HOOK: endpoints whose deliveries keep failing; none while there are no webhooks."""
    if not webhooks_installed():
        return []
    return []  # HOOK: fill in from the webhooks app's deliveries table when it exists
