from __future__ import annotations

from uuid import UUID

from commerce_project.api.errors import ConflictError, InvalidInput, NotFound, ServiceUnavailable


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


class CartEmpty(InvalidInput):
    def __init__(self) -> None:
        super().__init__("The cart is empty.", errors={"cart": ["The cart has no lines."]})


class CartStoreUnavailable(ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__("Carts are unavailable right now (the cart store is unreachable).")
