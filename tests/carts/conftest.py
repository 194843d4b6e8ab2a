from __future__ import annotations

from rest_framework.test import APIClient

from tests.inventory.conftest import closed_redis_url  # noqa: F401  (shared fixture)

CARTS = "/api/v1/carts/"


def create_cart(client: APIClient) -> str:
    response = client.post(CARTS)
    assert response.status_code == 201, response.content
    return str(response.json()["session_id"])


def items_url(session_id: str, product_id: object | None = None) -> str:
    base = f"{CARTS}{session_id}/items/"
    return f"{base}{product_id}/" if product_id else base
