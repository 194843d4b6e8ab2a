"""A Redis outage must not take the API down: throttling and caches fail open, logged."""

from __future__ import annotations

import copy
import logging

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import User


def caches_at_closed_port() -> dict[str, dict[str, object]]:
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["LOCATION"] = "redis://127.0.0.1:1/0"
    return caches


@pytest.mark.django_db
def test_requests_succeed_and_log_when_the_throttle_store_is_down(
    customer_client: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    # given Redis (the throttle, token cache and cache store) unreachable
    closed = {"CACHES": caches_at_closed_port(), "REDIS_URL": "redis://127.0.0.1:1/0"}
    with override_settings(**closed), caplog.at_level(logging.WARNING):
        # when
        response = customer_client.get("/api/v1/orders/")
        cached = cache.get("anything")
    # then the token is verified in the database and the throttle lets the request through
    assert response.status_code == 200
    assert cached is None
    logged = {r.name for r in caplog.records}
    assert {"commerce_project.redis", "accounts.authentication", "accounts.throttles"} <= logged


@pytest.mark.django_db
def test_staff_can_open_the_user_admin(staff: User) -> None:
    client = APIClient()
    client.force_login(staff)
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 200
    assert staff.username in response.content.decode()


@pytest.mark.django_db
def test_customers_cannot_open_the_admin(customer: User) -> None:
    client = APIClient()
    client.force_login(customer)
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
