"""Order errors: each has a stable problem type and structured fields for clients."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from commerce_project.errors import ConflictError, Forbidden, InvalidInput, NotFound


class IllegalTransition(ConflictError):
    type = "illegal-transition"
    title = "Illegal transition"

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


class ActionForbidden(Forbidden):
    """The actor may not run this transition on this order (decided against the loaded
    order): `required_permission` names what staff would need, when a permission would do."""

    def __init__(
        self, *, transition: str, actor: str, required_permission: str | None = None
    ) -> None:
        if required_permission:
            detail = f"{transition} needs the permission {required_permission}."
        else:
            detail = f"You may not {transition} this order."
        super().__init__(detail, transition=transition, required_permission=required_permission)
        self.transition = transition
        self.actor = actor
        self.required_permission = required_permission


class InvalidQuantity(InvalidInput):
    def __init__(self, quantity: int, minimum: int, maximum: int) -> None:
        message = f"Quantity must be between {minimum} and {maximum}; got {quantity}."
        super().__init__(message, errors={"quantity": [message]})


class OrderTotalTooLarge(InvalidInput):
    def __init__(self, total: Decimal, maximum: Decimal) -> None:
        message = f"The order total would be {total}; an order may total at most {maximum}."
        super().__init__(message, errors={"quantity": [message]})


class ProductRefused(InvalidInput):
    """A product that cannot go on an order line, named by `product_id` (as the commands
    name it). An edge whose input names products elsewhere (`items.1.product_id` in a new
    order's body) maps it to its own field."""

    def __init__(self, product_id: UUID, message: str) -> None:
        super().__init__(message, errors={"product_id": [message]})
        self.product_id = product_id
        self.message = message


class CurrencyMismatch(ProductRefused):
    def __init__(self, product_id: UUID, product_currency: str, order_currency: str) -> None:
        super().__init__(
            product_id,
            f"Product {product_id} is priced in {product_currency}; "
            f"this order is in {order_currency}.",
        )


class ProductUnavailable(ProductRefused):
    def __init__(self, product_id: UUID) -> None:
        super().__init__(product_id, f"Product {product_id} does not exist or is not for sale.")


class InvalidNote(InvalidInput):
    def __init__(self, max_length: int) -> None:
        message = f"A note needs some text, at most {max_length} characters."
        super().__init__(message, errors={"text": [message]})


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


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class OrderVersionOutOfRange(InvalidInput):
    """History asked for a version the order's stream has not reached."""

    def __init__(self, order_id: UUID, version: int, current_version: int) -> None:
        super().__init__(
            f"Order {order_id} has no version {version}; it has versions 1..{current_version}.",
            errors={"version": [f"The order has versions 1..{current_version}."]},
            current_version=current_version,
        )


class OrderNotYetCreated(NotFound):
    """History asked for a moment before the order's first event."""

    def __init__(self, order_id: UUID, as_of: datetime, created_at: datetime) -> None:
        super().__init__(
            f"Order {order_id} did not exist yet at {_iso(as_of)}; "
            f"it was created at {_iso(created_at)}.",
            created_at=_iso(created_at),
        )


class RefundAmountInvalid(InvalidInput):
    def __init__(self, message: str) -> None:
        super().__init__(message, errors={"amount": [message]})


class RefundLineInvalid(InvalidInput):
    """A refunded line the order cannot give back, named as its field (`lines.0.quantity`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, errors={field: [message]})


class RefundExceedsRefundable(ConflictError):
    """More was asked than is left to refund: the capture minus what came back and what
    running refunds hold. `refundable_amount` says what may still be asked for."""

    type = "refund-exceeds-refundable"
    title = "Refund exceeds what is refundable"

    def __init__(self, *, requested: Decimal, refundable_amount: Decimal, currency: str) -> None:
        super().__init__(
            f"Cannot refund {requested:.2f} {currency}: "
            f"{refundable_amount:.2f} {currency} is refundable.",
            requested_amount=f"{requested:.2f}",
            refundable_amount=f"{refundable_amount:.2f}",
            currency=currency,
        )
        self.requested = requested
        self.refundable_amount = refundable_amount


class RefundNotRunning(ConflictError):
    """A refund can be completed or failed once, and only one that was requested."""

    type = "illegal-transition"
    title = "Illegal transition"

    def __init__(self, *, refund_id: UUID, status: str | None) -> None:
        detail = (
            f"The order has no refund {refund_id}."
            if status is None
            else f"Refund {refund_id} is already {status}."
        )
        super().__init__(detail, refund_id=str(refund_id), refund_status=status)
