"""The cart as a customer sees it: lines priced from the catalogue, with availability."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from inventory.selectors import product_snapshots

from .repository import StoredCart


class CartStatus(StrEnum):
    """OPEN: the customer may change it. CHECKING_OUT: a checkout holds it."""

    OPEN = "OPEN"
    CHECKING_OUT = "CHECKING_OUT"


class CartLine(NamedTuple):
    """Immutable like a frozen dataclass, at a third of the cost to build (ten per read)."""

    product_id: UUID
    sku: str
    name: str
    unit_price: Decimal
    currency: str
    quantity: int
    line_total: Decimal
    available: int
    active: bool


@dataclass(frozen=True)
class CartView:
    session_id: str
    owner_id: UUID | None
    status: CartStatus
    lines: list[CartLine]
    total: Decimal
    currency: str
    item_count: int
    expires_at: datetime | None


def cart_view(*, cart: StoredCart) -> CartView:
    """Prices come from the catalogue now (a cart stores no prices). Lines whose product
    was withdrawn stay visible with `active: false` and count towards no total; lines of
    deleted products are left out. Catalogue values come with the cart when the store read
    them in the same script; otherwise one MGET. Products missing from the cache cost one
    query."""
    quantities = cart.lines
    products = product_snapshots(quantities, cached=cart.catalogue)
    lines = [
        CartLine(
            product_id=product.product_id,
            sku=product.sku,
            name=product.name,
            unit_price=product.price,
            currency=product.currency,
            quantity=quantity,
            line_total=product.price * quantity,
            available=product.available,
            active=product.active,
        )
        for product, quantity in zip(
            products.values(), map(quantities.__getitem__, products), strict=True
        )
    ]
    # By name, then id: UUIDs order as their canonical text does (fixed-width hex).
    lines.sort(key=lambda line: (line.name, line.product_id.int))
    sold = [line for line in lines if line.active]
    return CartView(
        session_id=cart.session_id,
        owner_id=cart.owner_id,
        status=CartStatus.CHECKING_OUT if cart.checkout else CartStatus.OPEN,
        lines=lines,
        total=sum((line.line_total for line in sold), Decimal("0.00")),
        currency=cart.currency or settings.INVENTORY_DEFAULT_CURRENCY,
        item_count=sum(line.quantity for line in sold),
        expires_at=(
            (timezone.now() + timedelta(seconds=cart.ttl_seconds)).replace(microsecond=0)
            if cart.ttl_seconds > 0
            else None
        ),
    )
