"""The "Operations" admin page: what a support lead opens first. Staff only (the URL is
wrapped in `admin.site.admin_view`). Every figure comes from operations.selectors: cheap
aggregates over the read models, never a scan of the events table."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from . import charts, selectors
from .webhooks import failing_webhooks

WINDOW = timedelta(hours=48)


def operations_dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    since = now - WINDOW
    hours = selectors.orders_per_hour(now, hours=int(WINDOW.total_seconds() // 3600))
    outcomes = selectors.saga_outcomes(since)
    reasons = selectors.saga_failure_reasons(since)
    attention = [
        (saga, reverse("admin:sagas_sagainstance_change", args=[saga.saga_id]))
        for saga in selectors.sagas_needing_attention(now)
    ]
    low_stock = [
        (item, reverse("admin:inventory_product_change", args=[item.product_id]))
        for item in selectors.low_stock(settings.OPERATIONS_LOW_STOCK_THRESHOLD)
    ]
    context = {
        **admin.site.each_context(request),
        "title": "Operations",
        "now": now,
        "orders_chart": charts.orders_per_hour_chart(hours, selectors.ORDER_STATUS_NAMES),
        "orders_in_window": sum(h.total for h in hours),
        "outcomes_chart": charts.bar_chart(
            "saga-outcomes-chart", "Saga outcomes, last 48 hours", list(outcomes.items())
        ),
        "reasons_chart": charts.bar_chart(
            "failure-reasons-chart", "Failure reasons, last 48 hours", reasons
        ),
        "reasons": reasons,
        "attention": attention,
        "lags": selectors.projection_lags(now),
        "low_stock": low_stock,
        "low_stock_threshold": settings.OPERATIONS_LOW_STOCK_THRESHOLD,
        "failing_webhooks": failing_webhooks(),
    }
    return TemplateResponse(request, "operations/dashboard.html", context)
