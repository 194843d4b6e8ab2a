"""Inventory errors. Each carries the structured fields a caller (or a client) needs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from commerce_project.errors import ConflictError, InvalidInput, NotFound


@dataclass(frozen=True)
class ShortLine:
    product_id: UUID
    requested: int
    available: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "product_id": str(self.product_id),
            "requested": self.requested,
            "available": self.available,
        }


class OutOfStock(ConflictError):
    """Not enough stock for one or more lines; `lines` names each of them. A permanent
    answer for the quantities asked: retrying the same request will not help."""

    type = "out-of-stock"
    title = "Out of stock"

    def __init__(self, lines: Sequence[ShortLine], detail: str | None = None) -> None:
        self.lines = list(lines)
        described = "; ".join(
            f"{line.product_id}: {line.requested} requested, {line.available} available"
            for line in self.lines
        )
        extra: dict[str, Any] = {"lines": [line.as_dict() for line in self.lines]}
        if len(self.lines) == 1:
            extra["product_id"] = str(self.lines[0].product_id)
            extra["available"] = self.lines[0].available
        super().__init__(detail or f"Not enough stock: {described}.", **extra)


class StockBusy(ConflictError):
    """Stock was available but every optimistic attempt lost to a concurrent writer.
    Transient: the same call may succeed when retried."""

    title = "Stock is busy"

    def __init__(self, product_id: UUID) -> None:
        self.product_id = product_id
        super().__init__(
            f"Stock of {product_id} changed concurrently too often; try again.",
            product_id=str(product_id),
        )


class ReservationNotActive(ConflictError):
    """The order's stock is no longer (or was never) held: it was released or expired.
    The caller must compensate (the saga refunds) rather than retry."""

    type = "illegal-transition"
    title = "Reservation is not active"

    def __init__(self, order_id: UUID, statuses: Sequence[str]) -> None:
        self.order_id = order_id
        self.statuses = sorted(set(statuses))
        state = ", ".join(self.statuses) if self.statuses else "none"
        super().__init__(
            f"Order {order_id} has no active reservation (status: {state}).",
            order_id=str(order_id),
            reservation_statuses=self.statuses,
        )


class UnknownProduct(InvalidInput):
    def __init__(self, product_ids: Sequence[UUID], field: str = "product_id") -> None:
        self.product_ids = list(product_ids)
        names = ", ".join(str(p) for p in self.product_ids)
        super().__init__(
            f"Unknown product: {names}.", errors={field: [f"Unknown product: {names}."]}
        )


class ProductNotFound(NotFound):
    def __init__(self, product_id: UUID | str) -> None:
        super().__init__(f"No product {product_id}.")
