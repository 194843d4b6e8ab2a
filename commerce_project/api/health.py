"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: PostgreSQL, Redis and
the Celery broker are reachable). Readiness names what is down so an operator need not guess."""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from kombu import Connection

logger = logging.getLogger(__name__)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    timeout = settings.REDIS_SOCKET_TIMEOUT
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout
    )
    try:
        client.ping()
    finally:
        client.close()


def _check_broker() -> None:
    with Connection(
        settings.CELERY_BROKER_URL, connect_timeout=settings.REDIS_SOCKET_TIMEOUT
    ) as conn:
        conn.ensure_connection(max_retries=0, timeout=settings.REDIS_SOCKET_TIMEOUT)


CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "redis": _check_redis,
    "broker": _check_broker,
}


# Probes send no CSRF token; only GET/HEAD are allowed anyway (405 otherwise).
@csrf_exempt
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@csrf_exempt
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; the reason is reported
            logger.warning("readiness check %s failed: %s", name, exc)
            results[name] = f"unavailable: {exc.__class__.__name__}"
    down = [name for name, result in results.items() if result != "ok"]
    if down:
        body = {
            "status": "unavailable",
            "detail": "Not ready: " + ", ".join(down) + " unreachable.",
            "checks": results,
        }
        return JsonResponse(body, status=503)
    return JsonResponse({"status": "ok", "checks": results})
