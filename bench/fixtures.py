"""What the benchmark modules share: users with API tokens and stocked products (idempotent:
a second run reuses what the first one made), and raw database connections for baselines."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
from django.conf import settings

from accounts.models import User
from accounts.services import token_issue
from inventory.models import Product
from inventory.services import product_create, stock_restock

# The shipping address of every order a benchmark places.
ADDRESS = {
    "name": "Bench",
    "line1": "1 Load St",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


def user_tokens(prefix: str, count: int, *, staff: bool = False) -> list[str]:
    """Fresh API tokens of `count` users named `<prefix>-<n>`, created when missing (only a
    token's digest is stored, so each run issues new ones)."""
    tokens = []
    for n in range(count):
        user, _ = User.objects.get_or_create(
            username=f"{prefix}-{n}", defaults={"is_staff": staff, "is_superuser": staff}
        )
        tokens.append(token_issue(user=user).token)
    return tokens


def stocked_products(count: int, *, available: int) -> list[Product]:
    """Products `BENCH-000`... with at least `available` units free to reserve each."""
    products = []
    for index in range(count):
        sku = f"BENCH-{index:03d}"
        product = Product.objects.filter(sku=sku).select_related("stock").first()
        if product is None:
            product = product_create(
                sku=sku, name=f"Bench {index}", price=Decimal("9.99"), initial_stock=available
            )
        elif product.stock.on_hand - product.stock.reserved < available:
            stock_restock(product_id=product.id, quantity=available, actor="bench", reason="bench")
        products.append(product)
    return products


def raw_connection() -> psycopg.Connection[Any]:
    """A plain autocommit psycopg connection to the benchmark database, for baselines."""
    db = settings.DATABASES["default"]
    return psycopg.connect(
        dbname=db["NAME"],
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=str(db.get("PORT") or "") or None,
        autocommit=True,
    )
