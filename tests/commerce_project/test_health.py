from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

CLOSED = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def test_healthz_needs_no_dependencies(api_client: APIClient) -> None:
    response = api_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ok_when_everything_answers(api_client: APIClient) -> None:
    response = api_client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}


@pytest.mark.django_db
@override_settings(REDIS_URL=CLOSED)
def test_readyz_names_redis_when_it_is_down(api_client: APIClient) -> None:
    response = api_client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["redis"].startswith("unavailable")
    assert body["checks"]["database"] == "ok"
    assert "redis" in body["detail"]


@pytest.mark.django_db
@override_settings(CELERY_BROKER_URL=CLOSED)
def test_readyz_names_the_broker_when_it_is_down(api_client: APIClient) -> None:
    response = api_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("unavailable")
    assert response.json()["checks"]["redis"] == "ok"


def test_readyz_names_the_database_when_it_is_down(api_client: APIClient) -> None:
    # given a database connection that cannot be opened (no db access granted to this test,
    # so the connection is a fresh one pointed at a closed port)
    from django.db import connections

    conn = connections["default"]
    saved = conn.settings_dict.copy()
    conn.close()
    conn.settings_dict["PORT"] = "1"
    try:
        response = api_client.get("/readyz")
    finally:
        conn.close()
        conn.settings_dict.clear()
        conn.settings_dict.update(saved)
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("unavailable")


def test_request_id_is_generated_and_returned(api_client: APIClient) -> None:
    response = api_client.get("/healthz")
    assert len(response["X-Request-ID"]) == 32


def test_a_sane_client_request_id_is_kept(api_client: APIClient) -> None:
    response = api_client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"


def test_an_unsafe_client_request_id_is_replaced(api_client: APIClient) -> None:
    response = api_client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline"
    assert len(response["X-Request-ID"]) == 32


def test_probes_accept_only_safe_methods(api_client: APIClient) -> None:
    assert api_client.post("/healthz").status_code == 405
    assert api_client.head("/healthz").status_code == 200
