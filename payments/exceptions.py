"""Errors of the payment gateway and the payment services.

They are not API errors (payments has no API): the saga turns them into step outcomes.
`PaymentDeclined` is permanent (the same request will never succeed), `PaymentTransientError`
is worth retrying with the same idempotency key.
"""

from __future__ import annotations

from typing import ClassVar


class PaymentError(Exception):
    """A payment operation did not succeed; `code` is a stable snake_case reason."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


class PaymentDeclined(PaymentError):
    """Permanent: the card was declined or the operation is not allowed (capturing a voided
    authorization, refunding more than was captured, ...)."""


class PaymentTransientError(PaymentError):
    """Retryable: the gateway timed out or is unavailable; retry with the same key."""

    retryable = True


class PaymentIdempotencyConflict(PaymentError):
    """An idempotency key was reused for a different payment (a programming error)."""


class PaymentNotFound(PaymentError, LookupError):
    """The order has no payment that the operation could apply to."""
