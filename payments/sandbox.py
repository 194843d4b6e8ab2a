"""A sandbox payment gateway that behaves like a real one, with its state in PostgreSQL.

Its ledger (`payment_sandbox_charges`) and idempotency records (`payment_sandbox_requests`)
live in the database, so every web and worker process sees the same "bank": attempts are
counted per idempotency key across processes, and a key's first final answer (success or
permanent decline) is replayed on every repeat. Requests with the same key are serialized by
a row lock, as a real gateway would do.

Card tokens choose the behaviour:

| token               | behaviour                                                      |
|---------------------|----------------------------------------------------------------|
| `tok_ok`            | everything succeeds                                            |
| `tok_declined`      | authorize is declined (`card_declined`)                        |
| `tok_flaky`         | authorize fails transiently twice per key, then succeeds        |
| `tok_unavailable`   | authorize always fails transiently (`gateway_unavailable`)      |
| `tok_capture_fails` | authorize succeeds, capture is declined (`capture_failed`)      |
| `tok_capture_flaky` | capture fails transiently twice per key, then succeeds          |
| `tok_void_fails`    | void always fails transiently (a compensation that cannot pass) |
| `tok_refund_fails`  | refund always fails transiently                                 |

`retrieve` reads the ledger (any token): what happened to an authorization, including a
capture or void whose answer never reached the caller.

Any other token is declined (`invalid_token`). Rules that hold whatever the token: capture
needs a live authorization (not voided, not expired, not already captured) and at most the
authorized amount; void of a captured charge is declined (refund it); refunds may not exceed
what was captured; reusing a key for a different request is declined
(`idempotency_key_reused`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from eventstore.prepared import fetch_prepared, single_statement_block

from .domain import money
from .exceptions import PaymentDeclined, PaymentError, PaymentTransientError
from .gateway import Authorization, Capture, ChargeState, ChargeStatus, Refund, Void
from .models import SandboxCharge, SandboxRequest
from .rows import insert_or_take, update_where

TOKENS = frozenset(
    {
        "tok_ok",
        "tok_declined",
        "tok_flaky",
        "tok_unavailable",
        "tok_capture_fails",
        "tok_capture_flaky",
        "tok_void_fails",
        "tok_refund_fails",
    }
)
FLAKY_FAILURES = 2

Params = dict[str, str]

# A key's first authorize that the token lets through: the idempotency record (already
# answered) and the charge in one statement, in autocommit. A key that exists takes
# nothing here (ON CONFLICT waits for a concurrent first try, then does nothing) and goes the
# general way, which replays or serializes it.
_AUTHORIZE_FIRST_TIME = """
    WITH request AS (
        INSERT INTO payment_sandbox_requests (
            idempotency_key, operation, fingerprint, attempts, outcome, response, created_at,
            updated_at
        )
        VALUES (%(key)s, 'authorize', %(fingerprint)s, 1, 'SUCCEEDED', %(response)s::jsonb,
                %(now)s, %(now)s)
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING idempotency_key
    ), charge AS (
        INSERT INTO payment_sandbox_charges (
            authorization_id, token, currency, authorized_amount, captured_amount,
            refunded_amount, status, authorized_at, expires_at
        )
        SELECT %(authorization_id)s::text, %(token)s::text, %(currency)s::text, %(amount)s, 0, 0,
               'AUTHORIZED', %(now)s, %(expires_at)s
          FROM request
        RETURNING authorization_id
    )
    SELECT count(*) FROM charge
"""
# A capture every rule allows: the guarded UPDATE and the answer recorded on its (already
# locked) idempotency record, in one statement. Anything else changes nothing here and reads
# the charge to say which rule refused it.
_CAPTURE_IF_ALLOWED = """
    WITH captured AS (
        UPDATE payment_sandbox_charges
           SET status = 'CAPTURED', capture_id = %(capture_id)s::text,
               captured_amount = %(amount)s, captured_at = %(now)s
         WHERE authorization_id = %(authorization_id)s::text AND status = 'AUTHORIZED'
           AND expires_at > %(now)s AND %(amount)s > 0 AND %(amount)s <= authorized_amount
           AND token NOT IN ('tok_capture_fails', 'tok_capture_flaky')
        RETURNING currency
    ), answered AS (
        UPDATE payment_sandbox_requests AS r
           SET attempts = %(attempt)s, outcome = 'SUCCEEDED', updated_at = %(now)s,
               response = jsonb_build_object(
                   'capture_id', %(capture_id)s::text,
                   'authorization_id', %(authorization_id)s::text,
                   'amount', %(amount_text)s::text,
                   'currency', captured.currency)
          FROM captured
         WHERE r.idempotency_key = %(key)s::text
        RETURNING r.response
    )
    SELECT response FROM answered
"""


class _Answer(NamedTuple):
    """What a handler made of a request: the response, and whether its own statement already
    recorded it as the key's answer (then `_request` writes nothing more)."""

    response: dict[str, str]
    recorded: bool = False


Handler = Callable[[Params, int, str], _Answer]


def _fingerprint(operation: str, params: Params) -> str:
    raw = json.dumps({"operation": operation, **params}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


def _authorization(authorization_id: str, params: Params) -> dict[str, str]:
    """The answer to an authorize the "bank" granted."""
    return {
        "authorization_id": authorization_id,
        "amount": str(Decimal(params["amount"])),
        "currency": params["currency"],
    }


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class SandboxGateway:
    """`payments.gateway.PaymentGateway` backed by the sandbox tables. Call it outside a
    database transaction, as you would call a real gateway: its writes are its own."""

    def authorize(
        self, *, amount: Decimal, currency: str, token: str, idempotency_key: str
    ) -> Authorization:
        params = {"amount": str(money(amount)), "currency": currency.upper(), "token": token}
        response = self._authorize_first_time(idempotency_key, params) or self._request(
            "authorize", idempotency_key, params, self._authorize
        )
        return Authorization(
            authorization_id=response["authorization_id"],
            amount=Decimal(response["amount"]),
            currency=response["currency"],
        )

    def capture(self, *, authorization_id: str, amount: Decimal, idempotency_key: str) -> Capture:
        params = {"authorization_id": authorization_id, "amount": str(money(amount))}
        response = self._request("capture", idempotency_key, params, self._capture)
        return Capture(
            capture_id=response["capture_id"],
            authorization_id=response["authorization_id"],
            amount=Decimal(response["amount"]),
            currency=response["currency"],
        )

    def void(self, *, authorization_id: str, idempotency_key: str) -> Void:
        params = {"authorization_id": authorization_id}
        response = self._request("void", idempotency_key, params, self._void)
        return Void(authorization_id=response["authorization_id"])

    def refund(self, *, capture_id: str, amount: Decimal, idempotency_key: str) -> Refund:
        params = {"capture_id": capture_id, "amount": str(money(amount))}
        response = self._request("refund", idempotency_key, params, self._refund)
        return Refund(
            refund_id=response["refund_id"],
            capture_id=response["capture_id"],
            amount=Decimal(response["amount"]),
            currency=response["currency"],
        )

    def retrieve(self, *, authorization_id: str) -> ChargeState:
        charge = SandboxCharge.objects.filter(authorization_id=authorization_id).first()
        if charge is None:
            raise PaymentDeclined("No such charge.", code="unknown_charge")
        return ChargeState(
            authorization_id=charge.authorization_id,
            status=ChargeStatus(charge.status),
            currency=charge.currency,
            captured_amount=charge.captured_amount,
            refunded_amount=charge.refunded_amount,
            capture_id=charge.capture_id or "",
        )

    # --- the idempotency layer

    def _request(
        self, operation: str, key: str, params: Params, handler: Handler
    ) -> dict[str, str]:
        fingerprint = _fingerprint(operation, params)
        error: PaymentError | None = None
        with transaction.atomic():
            request = insert_or_take(
                SandboxRequest(idempotency_key=key, operation=operation, fingerprint=fingerprint),
                unique="idempotency_key",
            )
            if request.fingerprint != fingerprint:
                raise PaymentDeclined(
                    f"Key {key!r} was used for a different {request.operation} request.",
                    code="idempotency_key_reused",
                )
            stored: dict[str, str] = request.response or {}
            if request.outcome == SandboxRequest.Outcome.SUCCEEDED:
                return dict(stored)
            if request.outcome == SandboxRequest.Outcome.DECLINED:
                raise PaymentDeclined(stored["message"], code=stored["code"])
            request.attempts += 1
            try:
                response, recorded = handler(params, request.attempts, key)
            except PaymentDeclined as exc:
                request.outcome = SandboxRequest.Outcome.DECLINED
                request.response = {"code": exc.code, "message": exc.message}
                error = exc
            except PaymentTransientError as exc:
                # Nothing final to remember, but the attempt counts (that is what makes
                # tok_flaky succeed on the third try, whichever process makes it).
                error = exc
            else:
                if recorded:
                    return response
                request.outcome = SandboxRequest.Outcome.SUCCEEDED
                request.response = response
            updated = update_where(
                SandboxRequest,
                {"idempotency_key": request.pk},
                {
                    "attempts": request.attempts,
                    "outcome": request.outcome,
                    "response": request.response,
                    "updated_at": timezone.now(),
                },
            )
            if updated != 1:
                raise RuntimeError(f"sandbox request {key!r} vanished while locked")
        if error is not None:
            raise error
        return response

    # --- the "bank"

    def _authorize_first_time(self, key: str, params: Params) -> dict[str, str] | None:
        """The response of a key's first authorize, made in one statement, when the token
        lets a first attempt through and the key is new; else None (go the general way)."""
        try:
            self._authorization_allowed(params, 1)
        except PaymentError:
            return None
        now = timezone.now()
        response = _authorization(_new_id("auth"), params)
        with single_statement_block():
            [(created,)] = fetch_prepared(
                _AUTHORIZE_FIRST_TIME,
                {
                    "key": key,
                    "fingerprint": _fingerprint("authorize", params),
                    "response": json.dumps(response),
                    "now": now,
                    "authorization_id": response["authorization_id"],
                    "token": params["token"],
                    "currency": params["currency"],
                    "amount": Decimal(params["amount"]),
                    "expires_at": now + settings.PAYMENT_SANDBOX_AUTHORIZATION_TTL,
                },
            )
        return response if created else None

    @staticmethod
    def _authorization_allowed(params: Params, attempt: int) -> None:
        """Raise what the "bank" answers an authorize attempt that it refuses."""
        token, amount = params["token"], Decimal(params["amount"])
        if token not in TOKENS:
            raise PaymentDeclined(f"Unknown card token {token!r}.", code="invalid_token")
        if amount <= 0:
            raise PaymentDeclined("The amount must be positive.", code="invalid_amount")
        if len(params["currency"]) != 3:
            raise PaymentDeclined("The currency must be an ISO 4217 code.", code="invalid_currency")
        if token == "tok_declined":
            raise PaymentDeclined("The card was declined.", code="card_declined")
        if token == "tok_unavailable" or (token == "tok_flaky" and attempt <= FLAKY_FAILURES):
            raise PaymentTransientError("The gateway timed out.", code="gateway_unavailable")

    @classmethod
    def _authorize(cls, params: Params, attempt: int, key: str) -> _Answer:
        cls._authorization_allowed(params, attempt)
        amount, now = Decimal(params["amount"]), timezone.now()
        charge = SandboxCharge.objects.create(
            authorization_id=_new_id("auth"),
            token=params["token"],
            currency=params["currency"],
            authorized_amount=amount,
            status=SandboxCharge.Status.AUTHORIZED,
            authorized_at=now,
            expires_at=now + settings.PAYMENT_SANDBOX_AUTHORIZATION_TTL,
        )
        return _Answer(_authorization(charge.authorization_id, params))

    @staticmethod
    def _charge(**lookup: Any) -> SandboxCharge:
        charge = SandboxCharge.objects.select_for_update().filter(**lookup).first()
        if charge is None:
            raise PaymentDeclined("No such charge.", code="unknown_charge")
        return charge

    @classmethod
    def _capture(cls, params: Params, attempt: int, key: str) -> _Answer:
        amount = Decimal(params["amount"])
        capture_id, now = _new_id("cap"), timezone.now()
        answered = fetch_prepared(
            _CAPTURE_IF_ALLOWED,
            {
                "capture_id": capture_id,
                "amount": amount,
                "amount_text": str(amount),
                "now": now,
                "authorization_id": params["authorization_id"],
                "attempt": attempt,
                "key": key,
            },
        )
        if answered:
            return _Answer(answered[0][0], recorded=True)
        charge = cls._charge(authorization_id=params["authorization_id"])
        if charge.status == SandboxCharge.Status.VOIDED:
            raise PaymentDeclined("The authorization was voided.", code="authorization_voided")
        if charge.status == SandboxCharge.Status.CAPTURED:
            raise PaymentDeclined(
                "The authorization was already captured.", code="already_captured"
            )
        if charge.expires_at <= timezone.now():
            raise PaymentDeclined("The authorization expired.", code="authorization_expired")
        if not 0 < amount <= charge.authorized_amount:
            raise PaymentDeclined(
                "The amount exceeds the authorization.", code="amount_exceeds_authorization"
            )
        if charge.token == "tok_capture_fails":
            raise PaymentDeclined("The issuer refused the capture.", code="capture_failed")
        if charge.token == "tok_capture_flaky" and attempt <= FLAKY_FAILURES:
            raise PaymentTransientError("The gateway timed out.", code="gateway_unavailable")
        charge.status = SandboxCharge.Status.CAPTURED
        charge.captured_amount = amount
        charge.capture_id = _new_id("cap")
        charge.captured_at = timezone.now()
        charge.save(update_fields=["status", "captured_amount", "capture_id", "captured_at"])
        return _Answer(
            {
                "capture_id": charge.capture_id,
                "authorization_id": charge.authorization_id,
                "amount": str(amount),
                "currency": charge.currency,
            }
        )

    @classmethod
    def _void(cls, params: Params, attempt: int, key: str) -> _Answer:
        charge = cls._charge(authorization_id=params["authorization_id"])
        if charge.token == "tok_void_fails":
            raise PaymentTransientError("The gateway is unavailable.", code="gateway_unavailable")
        if charge.status == SandboxCharge.Status.CAPTURED:
            raise PaymentDeclined("A captured charge cannot be voided.", code="already_captured")
        if charge.status == SandboxCharge.Status.AUTHORIZED:
            charge.status = SandboxCharge.Status.VOIDED
            charge.voided_at = timezone.now()
            charge.save(update_fields=["status", "voided_at"])
        return _Answer({"authorization_id": charge.authorization_id})

    @classmethod
    def _refund(cls, params: Params, attempt: int, key: str) -> _Answer:
        charge = cls._charge(capture_id=params["capture_id"])
        amount = Decimal(params["amount"])
        if charge.token == "tok_refund_fails":
            raise PaymentTransientError("The gateway is unavailable.", code="gateway_unavailable")
        if amount <= 0:
            raise PaymentDeclined("The amount must be positive.", code="invalid_amount")
        if charge.refunded_amount + amount > charge.captured_amount:
            raise PaymentDeclined(
                "The refund exceeds the captured amount.", code="amount_exceeds_captured"
            )
        charge.refunded_amount += amount
        charge.save(update_fields=["refunded_amount"])
        return _Answer(
            {
                "refund_id": _new_id("re"),
                "capture_id": params["capture_id"],
                "amount": str(amount),
                "currency": charge.currency,
            }
        )
