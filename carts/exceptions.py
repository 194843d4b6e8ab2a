from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from commerce_project.errors import (
    ConflictError,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
)


class CartNotFound(NotFound):
    """No such cart, or not the requester's: the two are indistinguishable on purpose."""

    def __init__(self, detail: str | None = None, **extra: object) -> None:
        super().__init__(detail or "No such cart.", **extra)


class CartCheckedOut(CartNotFound):
    def __init__(self, order_id: UUID) -> None:
        self.order_id = order_id
        super().__init__(f"This cart was checked out as order {order_id}.", order_id=str(order_id))


class CartCheckoutInProgress(ConflictError):
    title = "Checkout in progress"

    def __init__(self, order_id: UUID) -> None:
        self.order_id = order_id
        super().__init__(
            "This cart is being checked out and cannot change.", order_id=str(order_id)
        )


class CartAlreadyCheckedOut(ConflictError):
    """A repeated checkout expected a total that the cart's order does not have: the repeat
    cannot be answered with that order as if it were what the client asked for."""

    title = "Cart already checked out"

    def __init__(
        self, *, order_id: UUID, total: Decimal, expected_total: Decimal, currency: str
    ) -> None:
        self.order_id = order_id
        super().__init__(
            f"This cart was already checked out as order {order_id}.",
            order_id=str(order_id),
            total=f"{total:.2f}",
            expected_total=f"{expected_total:.2f}",
            currency=currency,
        )


class CartEmpty(InvalidInput):
    def __init__(self) -> None:
        super().__init__("The cart is empty.", errors={"cart": ["The cart has no lines."]})


class CartStoreUnavailable(ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__("Carts are unavailable right now (the cart store is unreachable).")


class PriceChanged(ConflictError):
    """The total the customer was shown is not what the cart costs now."""

    type = "price-changed"
    title = "Prices changed"

    def __init__(self, *, total: Decimal, expected_total: Decimal, currency: str) -> None:
        super().__init__(
            f"The cart now costs {total:.2f} {currency}, not {expected_total:.2f}; "
            "show the customer the new total and check out again.",
            total=f"{total:.2f}",
            expected_total=f"{expected_total:.2f}",
            currency=currency,
        )
