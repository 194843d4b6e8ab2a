"""The headers of API responses, pinned whole: what the middleware stack and DRF add (security
headers, CORS' Vary, the request id, DRF's Allow and Vary) must not change when the stack is
made cheaper — on a success, on a problem raised in DRF and on one answered by the
middleware, over HTTP and, with HSTS, over HTTPS."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import User
from tests.accounts.test_tokens import device, sign_in

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"
SECURITY = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


def headers_of(response: Any) -> dict[str, str]:
    """Every header but the request id (checked apart) and the body's length."""
    headers = dict(response.items())
    assert REQUEST_ID.match(headers.pop("X-Request-ID"))
    headers.pop("Content-Length", None)
    return headers


def test_a_token_request_gets_exactly_these_headers(customer: User) -> None:
    response = device(sign_in(customer)).get(ORDERS)
    assert response.status_code == 200
    assert headers_of(response) == {
        "Content-Type": "application/json",
        "Vary": "Accept, origin",
        "Allow": "GET, POST, HEAD, OPTIONS",
        **SECURITY,
    }


def test_a_problem_from_drf_gets_exactly_these_headers(api_client: APIClient) -> None:
    response = api_client.get(ORDERS, HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 401
    assert headers_of(response) == {
        "Content-Type": "application/problem+json",
        "WWW-Authenticate": "Bearer",
        "Vary": "Accept, origin",
        "Allow": "GET, POST, HEAD, OPTIONS",
        **SECURITY,
    }


def test_a_problem_from_the_middleware_gets_exactly_these_headers(api_client: APIClient) -> None:
    response = api_client.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert headers_of(response) == {
        "Content-Type": "application/problem+json",
        "Vary": "origin",
        **SECURITY,
    }


def test_over_https_hsts_is_added(customer: User) -> None:
    token = sign_in(customer)
    with override_settings(
        SECURE_HSTS_SECONDS=31536000, SECURE_HSTS_INCLUDE_SUBDOMAINS=True, SECURE_HSTS_PRELOAD=True
    ):
        response = device(token).get(ORDERS, secure=True)
    assert response.status_code == 200
    assert headers_of(response) == {
        "Content-Type": "application/json",
        "Vary": "Accept, origin",
        "Allow": "GET, POST, HEAD, OPTIONS",
        "Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
        **SECURITY,
    }
