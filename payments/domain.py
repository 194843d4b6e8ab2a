"""Pure money rules of the payments context."""

from __future__ import annotations

from decimal import Decimal

CENT = Decimal("0.01")


def money(value: Decimal | str | int) -> Decimal:
    """Amounts are quantized to cents once, where they enter payments."""
    return Decimal(value).quantize(CENT)
