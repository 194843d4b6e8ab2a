"""Order errors: each has a stable problem type and structured fields for clients."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from commerce_project.api.errors import ApplicationError, InvalidInput, NotFound


class IllegalTransition(ApplicationError):
    type = "illegal-transition"
    title = "Illegal transition"
    status = 409

    def __init__(
        self,
        *,
        transition: str,
        current_status: str,
        allowed_transitions: list[str],
        unmet_conditions: list[str],
    ) -> None:
        if unmet_conditions:
            detail = (
                f"Cannot {transition} an order in {current_status}: "
                f"unmet conditions {', '.join(unmet_conditions)}."
            )
        else:
            detail = f"Cannot {transition} an order in {current_status}."
        super().__init__(
            detail,
            transition=transition,
            current_status=current_status,
            allowed_transitions=allowed_transitions,
            unmet_conditions=unmet_conditions,
        )
        self.transition = transition
        self.current_status = current_status
        self.allowed_transitions = allowed_transitions
        self.unmet_conditions = unmet_conditions


class InvalidQuantity(InvalidInput):
    def __init__(self, quantity: int, minimum: int, maximum: int) -> None:
        message = f"Quantity must be between {minimum} and {maximum}; got {quantity}."
        super().__init__(message, errors={"quantity": [message]})


class CurrencyMismatch(InvalidInput):
    def __init__(self, product_id: UUID, product_currency: str, order_currency: str) -> None:
        message = (
            f"Product {product_id} is priced in {product_currency}; "
            f"this order is in {order_currency}."
        )
        super().__init__(message, errors={"product_id": [message]})


class ProductUnavailable(InvalidInput):
    def __init__(self, product_id: UUID) -> None:
        message = f"Product {product_id} does not exist or is not for sale."
        super().__init__(message, errors={"product_id": [message]})
        self.product_id = product_id


class PaymentAmountMismatch(InvalidInput):
    def __init__(self, amount: Decimal, total: Decimal, currency: str) -> None:
        message = f"Payment amount {amount} does not match the order total {total} {currency}."
        super().__init__(message, errors={"amount": [message]})


class OrderLineNotFound(NotFound):
    def __init__(self, order_id: UUID, product_id: UUID) -> None:
        super().__init__(f"Order {order_id} has no line for product {product_id}.")


class OrderNotFound(NotFound):
    def __init__(self, order_id: UUID) -> None:
        super().__init__(f"Order {order_id} does not exist.")
