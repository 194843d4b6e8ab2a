"""Fixtures of the contract tests: the API served by pytest-django's live server (a real
HTTP server in this process, over the test database), and tokens for a customer and a
member of staff."""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

from drf_spectacular.generators import SchemaGenerator
from rest_framework.utils.encoders import JSONEncoder

from accounts.models import User
from eventstore.commands import dispatch
from inventory.models import Product
from orders.commands import ConfirmOrder, CreateOrder, LineRequest
from orders.domain import Actor
from tests.factories import DEFAULT_PASSWORD
from tests.sagas.shop import ADDRESS
from tests.sagas.worker import celery_worker


def token_for(base_url: str, user: User) -> str:
    """A token for `user` (made by UserFactory), signed in through POST auth/token/ as any
    client would: it holds whatever the token scheme is."""
    request = urllib.request.Request(
        f"{base_url}/api/v1/auth/token/",
        data=json.dumps({"username": user.username, "password": DEFAULT_PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as answer:
        token: str = json.load(answer)["token"]
    return token


def live_schema() -> dict[str, Any]:
    """The OpenAPI document GET /api/schema/ answers, as plain JSON data."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded: dict[str, Any] = json.loads(json.dumps(document, cls=JSONEncoder))
    return loaded


__all__ = ["celery_worker"]


def order_with_id(order_id: uuid.UUID, customer: User, lines: list[tuple[Product, int]]) -> None:
    """A confirmed order of `customer` with the given id, through the commands the API uses
    (confirming starts its saga)."""
    owner = Actor.customer(customer.pk)
    dispatch(
        CreateOrder(
            order_id=order_id,
            actor=owner,
            customer_id=customer.pk,
            lines=tuple(LineRequest(product_id=p.pk, quantity=q) for p, q in lines),
            shipping_address=ADDRESS,
        )
    )
    dispatch(ConfirmOrder(order_id=order_id, actor=owner, payment_token="tok_ok"))
