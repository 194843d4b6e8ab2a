"""CORS (django-cors-headers): browser apps on CORS_ALLOWED_ORIGINS may call the API; a
preflight is answered before authentication; other origins get no CORS headers."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from accounts.models import User
from tests.accounts.test_tokens import device, sign_in

APP = "https://shop.example.com"
ORDERS = "/api/v1/orders/"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _allowed_origin(settings: SettingsWrapper) -> None:
    settings.CORS_ALLOWED_ORIGINS = [APP]


def preflight(client: APIClient, origin: str) -> object:
    return client.options(
        ORDERS,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, idempotency-key",
    )


def test_with_no_origins_configured_no_preflight_is_allowed(
    api_client: APIClient, settings: SettingsWrapper
) -> None:
    settings.CORS_ALLOWED_ORIGINS = []  # the default
    response = preflight(api_client, APP)
    assert "Access-Control-Allow-Origin" not in response  # type: ignore[operator]


def test_a_preflight_from_an_allowed_origin_is_answered_without_a_token(
    api_client: APIClient,
) -> None:
    # when a browser asks, without credentials, whether it may POST with a token
    response = preflight(api_client, APP)
    # then
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert response["Access-Control-Allow-Origin"] == APP  # type: ignore[index]
    assert "POST" in response["Access-Control-Allow-Methods"]  # type: ignore[index]
    allowed = response["Access-Control-Allow-Headers"].lower()  # type: ignore[index]
    assert {"authorization", "content-type", "idempotency-key"} <= set(allowed.split(", "))


def test_a_preflight_from_an_unknown_origin_gets_no_cors_headers(api_client: APIClient) -> None:
    response = preflight(api_client, "https://evil.example.net")
    assert "Access-Control-Allow-Origin" not in response  # type: ignore[operator]
    assert "Access-Control-Allow-Methods" not in response  # type: ignore[operator]


def test_an_allowed_origin_may_read_the_api_headers(customer: User) -> None:
    # when the app reads the orders with a token
    response = device(sign_in(customer)).get(ORDERS, HTTP_ORIGIN=APP)
    # then the browser may hand the answer and its headers to the app
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    exposed = {h.strip().lower() for h in response["Access-Control-Expose-Headers"].split(",")}
    assert {"etag", "location", "retry-after", "x-request-id"} <= exposed


def test_an_unknown_origin_gets_the_answer_without_cors_headers(customer: User) -> None:
    response = device(sign_in(customer)).get(ORDERS, HTTP_ORIGIN="https://evil.example.net")
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


def test_without_an_origin_only_the_api_varies_on_it(customer: User) -> None:
    # a client that sends no Origin (not a browser): no CORS headers, and the API's answers
    # still say that they would differ for one
    api = device(sign_in(customer)).get(ORDERS)
    health = APIClient().get("/healthz")
    assert "Access-Control-Allow-Origin" not in api
    assert "origin" in api["Vary"]
    assert "origin" not in health.get("Vary", "")
