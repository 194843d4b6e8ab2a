from typing import Any, cast
from uuid import UUID

import pytest
from rest_framework.exceptions import ValidationError

from carts.api.serializers import CartItemAddSerializer, cart_item_add_input

PRODUCT = "6f1c1e2a-8a5e-4d0e-9a52-1f0c2d3e4b5a"


def _serializer_answer(data: Any) -> tuple[UUID, int] | dict[str, Any]:
    serializer = CartItemAddSerializer(data=data)
    if serializer.is_valid():
        return serializer.validated_data["product_id"], serializer.validated_data["quantity"]
    return dict(serializer.errors)


def _answer(data: Any) -> tuple[UUID, int] | dict[str, Any]:
    try:
        return cart_item_add_input(data)
    except ValidationError as exc:
        return dict(cast(dict[str, Any], exc.detail))


@pytest.mark.parametrize(
    "data",
    [
        {"product_id": PRODUCT, "quantity": 1},
        {"product_id": PRODUCT.replace("-", "").upper(), "quantity": 3, "other": "ignored"},
        {"product_id": PRODUCT, "quantity": 0},
        {"product_id": PRODUCT, "quantity": 10**12},
        {"product_id": PRODUCT, "quantity": True},
        {"product_id": PRODUCT, "quantity": 2.0},
        {"product_id": PRODUCT, "quantity": "2"},
        {"product_id": PRODUCT},
        {"quantity": 1},
        {"product_id": "not-a-uuid", "quantity": 1},
        {"product_id": 12345, "quantity": 1},
        {"product_id": None, "quantity": 1},
        [],
        "text",
    ],
)
def test_the_direct_read_answers_as_the_serializer_does(data: Any) -> None:
    # when a body is read directly or by the serializer, then both agree (value or errors)
    assert _answer(data) == _serializer_answer(data)
