"""The hot API paths read the headers they need from the WSGI environ: Django's
`request.headers` copies every header of the request into a new mapping (about 20 header
names parsed per request) the first time anything touches it."""

from __future__ import annotations

from typing import Any

import pytest
from django.http.request import HttpHeaders
from rest_framework.test import APIClient

from accounts.models import User
from tests.orders.conftest import ADDRESS_JSON, make_order, order_url
from tests.orders.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def headers_built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    built: list[int] = []
    original = HttpHeaders.__init__

    def counted(self: HttpHeaders, environ: Any) -> None:
        built.append(1)
        original(self, environ)

    monkeypatch.setattr(HttpHeaders, "__init__", counted)
    return built


def test_detail_create_and_confirm_never_build_request_headers(
    headers_built: list[int], customer_client: APIClient, customer: User
) -> None:
    product = ProductFactory()
    order = make_order(customer, lines=[(product, 1)])
    detail = customer_client.get(order_url(order.id))
    assert detail.status_code == 200
    # DRF's negotiation reads them once per distinct Accept header (then remembered)
    headers_built.clear()
    assert customer_client.get(order_url(order.id)).status_code == 200
    unchanged = customer_client.get(order_url(order.id), HTTP_IF_NONE_MATCH=detail["ETag"])
    assert unchanged.status_code == 304
    created = customer_client.post(
        "/api/v1/orders/",
        {
            "items": [{"product_id": str(product.id), "quantity": 1}],
            "shipping_address": ADDRESS_JSON,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="create-1",
    )
    assert created.status_code == 201
    confirmed = customer_client.post(
        order_url(created.json()["id"], "confirm/"),
        {"payment_token": "tok_ok"},
        format="json",
        HTTP_IF_MATCH=created["ETag"],
    )
    assert confirmed.status_code == 200, confirmed.content
    assert customer_client.get("/api/v1/products/").status_code == 200
    assert headers_built == []
