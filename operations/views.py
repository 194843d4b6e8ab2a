"""`GET /metrics` for Prometheus (protected, see operations.access)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from commerce_project.api.problems import problem_response

from .access import metrics_access_allowed
from .exposition import metrics_exposition


@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_ENABLED:
        raise Http404
    if not metrics_access_allowed(request):
        return problem_response(
            403,
            detail="Metrics are served to the networks in METRICS_ALLOWED_CIDRS, or with "
            "Authorization: Bearer <METRICS_TOKEN>.",
        )
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)
