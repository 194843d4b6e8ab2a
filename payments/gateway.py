"""The payment gateway seen from our side: a protocol, its result types, and the setting that
chooses the implementation (`PAYMENT_GATEWAY`, a dotted path).

Every call that moves money takes an idempotency key: repeating a call with the same key
returns the first result (or the first permanent error) and never moves money twice.
`retrieve` moves nothing: it says what the gateway holds for an authorization, so an answer
we never received (a worker that died after the gateway acted) can be recovered.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, cast

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Authorization:
    authorization_id: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class Capture:
    capture_id: str
    authorization_id: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class Void:
    authorization_id: str


@dataclass(frozen=True)
class Refund:
    refund_id: str
    capture_id: str
    amount: Decimal
    currency: str


class ChargeStatus(enum.StrEnum):
    AUTHORIZED = "AUTHORIZED"  # held on the card, capturable (or lapsed at the gateway)
    CAPTURED = "CAPTURED"
    VOIDED = "VOIDED"


@dataclass(frozen=True)
class ChargeState:
    """What the gateway holds for one authorization, whatever we recorded of it."""

    authorization_id: str
    status: ChargeStatus
    currency: str
    captured_amount: Decimal
    refunded_amount: Decimal
    capture_id: str  # "" until captured


class PaymentGateway(Protocol):
    """Raise `PaymentDeclined` for permanent failures, `PaymentTransientError` for retryable
    ones (payments.exceptions)."""

    def authorize(
        self, *, amount: Decimal, currency: str, token: str, idempotency_key: str
    ) -> Authorization: ...

    def capture(
        self, *, authorization_id: str, amount: Decimal, idempotency_key: str
    ) -> Capture: ...

    def void(self, *, authorization_id: str, idempotency_key: str) -> Void: ...

    def refund(self, *, capture_id: str, amount: Decimal, idempotency_key: str) -> Refund: ...

    def retrieve(self, *, authorization_id: str) -> ChargeState: ...


@functools.cache
def _gateway_for(path: str) -> PaymentGateway:
    return cast(PaymentGateway, import_string(path)())


def get_gateway() -> PaymentGateway:
    """The gateway named by `settings.PAYMENT_GATEWAY` (one instance per dotted path)."""
    return _gateway_for(settings.PAYMENT_GATEWAY)
