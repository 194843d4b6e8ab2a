"""Payment use cases. The gateway is the outside world, so each operation runs in three
steps: record the intent (a committed row, or the operation's key on it), call the gateway
outside any transaction, record the result with a conditional UPDATE. Every step is safe to
repeat: the same idempotency key reaches the gateway again and gets the first answer back.

Call these outside a database transaction (the saga engine runs its steps that way).

A call can reach the gateway and its answer still be lost (the worker dies after the bank
captured, before the row says CAPTURED). So nothing that gives money back decides from our
row alone: `payment_void` and `payment_refund` first reconcile the row with the gateway
(`payment_reconcile`) and then void what is authorized, refund what is captured.
"""

from __future__ import annotations

import logging
import uuid
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import timezone

from .domain import money
from .exceptions import (
    PaymentDeclined,
    PaymentError,
    PaymentIdempotencyConflict,
    PaymentNotFound,
    PaymentTransientError,
)
from .gateway import ChargeState, ChargeStatus, get_gateway
from .models import Payment, PaymentRefund
from .rows import all_columns, insert_or_take, rows_returned, update_where

logger = logging.getLogger(__name__)

Status = Payment.Status
# The payment an operation on an order applies to: the latest one the gateway accepted.
_LIVE = (Status.AUTHORIZED, Status.CAPTURED, Status.VOIDED, Status.REFUNDED)


def payment_authorize(
    *, order_id: uuid.UUID, amount: Decimal, currency: str, token: str, idempotency_key: str
) -> Payment:
    """Authorize `amount` on the card `token`; returns the AUTHORIZED payment (or, repeated,
    the payment as it is now). Raises PaymentDeclined (also on a repeat of a declined key)
    or PaymentTransientError (retry with the same key)."""
    amount, currency = money(amount), currency.upper()
    payment = insert_or_take(
        Payment(
            order_id=order_id, amount=amount, currency=currency, idempotency_key=idempotency_key
        ),
        unique="idempotency_key",
    )
    if (payment.order_id, payment.amount, payment.currency) != (order_id, amount, currency):
        raise PaymentIdempotencyConflict(
            f"Idempotency key {idempotency_key!r} belongs to another payment.",
            code="idempotency_key_reused",
        )
    if payment.status == Status.FAILED:
        raise PaymentDeclined(payment.failure_message, code=payment.failure_code)
    if payment.status != Status.PENDING:
        return payment

    try:
        authorization = get_gateway().authorize(
            amount=amount, currency=currency, token=token, idempotency_key=idempotency_key
        )
    except PaymentDeclined as exc:
        _record(payment, Status.PENDING, status=Status.FAILED, **_failure(exc))
        raise
    except PaymentTransientError as exc:
        _record(payment, Status.PENDING, **_failure(exc))
        raise
    return _record(
        payment,
        Status.PENDING,
        status=Status.AUTHORIZED,
        gateway_authorization_id=authorization.authorization_id,
        authorized_at=timezone.now(),
        failure_code="",
        failure_message="",
    )


def payment_capture(*, order_id: uuid.UUID, idempotency_key: str) -> Payment:
    """Capture the order's authorized payment in full; a captured (or since refunded) payment
    is returned as it is. Raises PaymentNotFound when nothing was authorized, PaymentDeclined
    (voided, expired, refused) or PaymentTransientError."""
    payment = _authorized_for_capture(order_id, idempotency_key)
    if payment is None:
        payment = _live_payment(order_id)
        if payment.status in (Status.CAPTURED, Status.REFUNDED):
            return payment
        if payment.status == Status.VOIDED:
            raise PaymentDeclined("The authorization was voided.", code="authorization_voided")
        raise PaymentNotFound(f"Order {order_id} has no authorized payment.", code="no_payment")
    key = payment.capture_idempotency_key or idempotency_key
    if key != idempotency_key:
        logger.info("payment %s: capture reuses the first key %s", payment.pk, key)
    try:
        capture = get_gateway().capture(
            authorization_id=payment.gateway_authorization_id,
            amount=payment.amount,
            idempotency_key=key,
        )
    except PaymentError as exc:
        # The authorization stays valid after a failed capture; it still needs a void.
        _record(payment, Status.AUTHORIZED, **_failure(exc))
        raise
    return _record(
        payment,
        Status.AUTHORIZED,
        status=Status.CAPTURED,
        gateway_capture_id=capture.capture_id,
        captured_amount=capture.amount,
        captured_at=timezone.now(),
    )


def payment_void(*, order_id: uuid.UUID, idempotency_key: str) -> Payment | None:
    """Release the order's authorization. None when nothing was ever authorized; a voided or
    refunded payment is returned as it is. Reconciles with the gateway first. Raises
    PaymentDeclined("already_captured") for a captured payment (recorded as CAPTURED: refund
    it instead) or PaymentTransientError."""
    payment = payment_reconcile(order_id=order_id)
    if payment is None or payment.status in (Status.VOIDED, Status.REFUNDED):
        return payment
    if payment.status == Status.CAPTURED:
        raise PaymentDeclined("A captured payment cannot be voided.", code="already_captured")
    key = _operation_key(payment, "void_idempotency_key", idempotency_key)
    try:
        get_gateway().void(authorization_id=payment.gateway_authorization_id, idempotency_key=key)
    except PaymentError as exc:
        _record(payment, Status.AUTHORIZED, **_failure(exc))
        if exc.code == "already_captured":
            payment_reconcile(order_id=order_id)  # captured since we asked: record it
        raise
    return _record(payment, Status.AUTHORIZED, status=Status.VOIDED, voided_at=timezone.now())


def payment_refund(*, order_id: uuid.UUID, idempotency_key: str) -> Payment | None:
    """Refund the order's captured payment in full. None when nothing was ever authorized; a
    refunded payment is returned as it is. Reconciles with the gateway first, so a capture
    whose answer was lost is refunded, and only what is left after a partial refund made at
    the gateway is asked for. Raises PaymentDeclined("not_captured") when the gateway never
    captured it (void it instead) or PaymentTransientError."""
    payment = payment_reconcile(order_id=order_id)
    if payment is None or payment.status == Status.REFUNDED:
        return payment
    if payment.status != Status.CAPTURED:
        raise PaymentDeclined("Only a captured payment can be refunded.", code="not_captured")
    key = _operation_key(payment, "refund_idempotency_key", idempotency_key)
    remaining = payment.captured_amount - payment.refunded_amount
    if payment.refunded_amount:
        # Part was refunded at the gateway (reconcile recorded it): ask for the rest only,
        # under a key bound to that amount. The key stays stable for this remainder, and one
        # already sent for another amount (e.g. the full one, declined) is not replayed.
        key = f"{key}:rest-{remaining}"
    try:
        refund = get_gateway().refund(
            capture_id=payment.gateway_capture_id, amount=remaining, idempotency_key=key
        )
    except PaymentError as exc:
        _record(payment, Status.CAPTURED, **_failure(exc))
        raise
    return _record(
        payment,
        Status.CAPTURED,
        status=Status.REFUNDED,
        gateway_refund_id=refund.refund_id,
        refunded_amount=payment.refunded_amount + refund.amount,
        refunded_at=timezone.now(),
    )


def payment_refund_part(
    *, order_id: uuid.UUID, refund_id: uuid.UUID, amount: Decimal, idempotency_key: str
) -> PaymentRefund:
    """Refund `amount` of the order's captured payment, once for `refund_id` (a partial
    refund; several may run at once). Returns the SUCCEEDED refund (a repeat returns it as
    recorded). The gateway bounds the total to the capture; our bound is the order's
    (OrderRefundRequested). Raises PaymentNotFound (nothing authorized), PaymentDeclined
    (recorded FAILED: no money moved) or PaymentTransientError (retry: the same key is sent
    again, and the gateway answers the first request's outcome)."""
    amount = money(amount)
    payment = payment_reconcile(order_id=order_id)
    if payment is None:
        raise PaymentNotFound(f"Order {order_id} has no authorized payment.", code="no_payment")
    PaymentRefund.objects.bulk_create(
        [
            PaymentRefund(
                id=refund_id, payment=payment, amount=amount, idempotency_key=idempotency_key
            )
        ],
        ignore_conflicts=True,
    )
    refund = PaymentRefund.objects.get(pk=refund_id)
    if (refund.payment_id, refund.amount) != (payment.pk, amount):
        raise PaymentIdempotencyConflict(
            f"Refund {refund_id} was recorded for another payment or amount.",
            code="idempotency_key_reused",
        )
    if refund.status == PaymentRefund.Status.SUCCEEDED:
        return refund
    if refund.status == PaymentRefund.Status.FAILED:
        raise PaymentDeclined(refund.failure_message, code=refund.failure_code)
    if payment.status not in (Status.CAPTURED, Status.REFUNDED):
        exc = PaymentDeclined("Only a captured payment can be refunded.", code="not_captured")
        _record_refund(refund, status=PaymentRefund.Status.FAILED, **_failure(exc))
        raise exc
    try:
        answer = get_gateway().refund(
            capture_id=payment.gateway_capture_id,
            amount=amount,
            idempotency_key=refund.idempotency_key,
        )
    except PaymentDeclined as exc:
        _record_refund(refund, status=PaymentRefund.Status.FAILED, **_failure(exc))
        raise
    except PaymentTransientError as exc:
        _record_refund(refund, **_failure(exc))
        raise
    refund = _record_refund(
        refund,
        status=PaymentRefund.Status.SUCCEEDED,
        gateway_refund_id=answer.refund_id,
        failure_code="",
        failure_message="",
    )
    # The payment's refunded total mirrors the gateway's (which counts every refund).
    payment_reconcile(order_id=order_id)
    return refund


def payment_refund_part_settle(
    *, order_id: uuid.UUID, refund_id: uuid.UUID
) -> PaymentRefund | None:
    """Before a partial refund that did not succeed is given up: make sure no money moved.
    Returns the refund as FAILED (or None when it never reached our records, so it never
    reached the gateway either). A refund still PENDING (its answers were lost or transient)
    is decided by reconciling with the gateway: when the gateway holds no more refunded money
    than our SUCCEEDED refunds account for, this one never went through and is recorded
    FAILED. Raises PaymentTransientError while the gateway holds refunds we have not
    recorded (this one, or another still on its way: ask again later), and PaymentDeclined
    ("refund_succeeded") when the money was given back after all."""
    refund = PaymentRefund.objects.filter(pk=refund_id).first()
    if refund is None or refund.status == PaymentRefund.Status.FAILED:
        return refund
    if refund.status == PaymentRefund.Status.SUCCEEDED:
        raise PaymentDeclined(
            f"Refund {refund_id} was paid out; it cannot be given up.", code="refund_succeeded"
        )
    # Our SUCCEEDED refunds are summed before the gateway is asked: a refund is recorded
    # SUCCEEDED only after the gateway paid it, so this sum can never exceed the gateway's
    # total read afterwards, while another refund recorded in between (summed after the
    # gateway's answer) could make a lost refund of this one look accounted for.
    recorded = sum(
        PaymentRefund.objects.filter(
            payment_id=refund.payment_id, status=PaymentRefund.Status.SUCCEEDED
        ).values_list("amount", flat=True),
        Decimal("0"),
    )
    payment = payment_reconcile(order_id=order_id)
    assert payment is not None  # the refund row points at it
    if payment.refunded_amount > recorded:
        raise PaymentTransientError(
            f"The gateway refunded {payment.refunded_amount}, our refunds account for "
            f"{recorded}: refund {refund_id} may have gone through.",
            code="refund_unreconciled",
        )
    return _record_refund(
        refund,
        status=PaymentRefund.Status.FAILED,
        failure_code=refund.failure_code or "not_refunded",
        failure_message=refund.failure_message or "The gateway never refunded it.",
    )


def _record_refund(refund: PaymentRefund, **changes: Any) -> PaymentRefund:
    """Like `_record`, for a refund still PENDING."""
    now = timezone.now()
    pending = PaymentRefund.objects.filter(pk=refund.pk, status=PaymentRefund.Status.PENDING)
    if not pending.update(**changes, updated_at=now):
        return PaymentRefund.objects.get(pk=refund.pk)
    for name, value in {**changes, "updated_at": now}.items():
        setattr(refund, name, value)
    return refund


def payment_reconcile(*, order_id: uuid.UUID) -> Payment | None:
    """Ask the gateway what it holds for the order's authorized (or captured) payment and
    record it where our row lags behind: a capture or void whose answer was lost, a refund
    made at the gateway (e.g. in its dashboard). Returns the payment as it is now; None when
    nothing was ever authorized. Raises PaymentTransientError when the gateway cannot say."""
    payment = _live_payment_or_none(order_id)
    if payment is None or payment.status not in (Status.AUTHORIZED, Status.CAPTURED):
        return payment
    state = get_gateway().retrieve(authorization_id=payment.gateway_authorization_id)
    changes = _changes_to_match(payment, state)
    if not changes:
        return payment
    logger.warning(
        "payment %s of order %s: recorded %s, the gateway holds %s; recording %s",
        payment.pk,
        order_id,
        payment.status,
        state,
        changes["status"],
    )
    # The gateway's refunded total only grows: a reconcile that read it before a concurrent
    # one must not write the older, smaller total over the newer one.
    guard = Q(refunded_amount__lte=changes.get("refunded_amount", payment.refunded_amount))
    return _record(
        payment, payment.status, guard=guard, **changes, failure_code="", failure_message=""
    )


def _changes_to_match(payment: Payment, state: ChargeState) -> dict[str, Any]:
    """What our row must record to say what the gateway says (nothing when it already does)."""
    now = timezone.now()
    if state.status == ChargeStatus.VOIDED and payment.status == Status.AUTHORIZED:
        return {"status": Status.VOIDED, "voided_at": now}
    if state.status != ChargeStatus.CAPTURED:
        return {}
    captured = {
        "gateway_capture_id": state.capture_id,
        "captured_amount": state.captured_amount,
        "captured_at": payment.captured_at or now,
    }
    if state.refunded_amount >= state.captured_amount > 0:
        return {
            "status": Status.REFUNDED,
            **captured,
            "refunded_amount": state.refunded_amount,
            "refunded_at": now,
        }
    # Captured, and perhaps refunded in part (e.g. in the gateway's dashboard): the payment
    # stays CAPTURED, with the part already refunded recorded so a refund asks for the rest.
    partial = {"refunded_amount": state.refunded_amount}
    if payment.status == Status.AUTHORIZED:
        return {"status": Status.CAPTURED, **captured, **partial}
    if payment.refunded_amount != state.refunded_amount:
        return {"status": Status.CAPTURED, **partial}
    return {}


# The happy path of a capture in one statement: the order's live payment, when it is
# AUTHORIZED, with the capture's key recorded unless an earlier attempt recorded one (that
# first key is kept: see _operation_key).
_CLAIM_CAPTURE = f"""
    UPDATE payments
       SET capture_idempotency_key = coalesce(capture_idempotency_key, %s),
           updated_at = CASE WHEN capture_idempotency_key IS NULL THEN %s ELSE updated_at END
     WHERE id = (SELECT id FROM payments WHERE order_id = %s AND status = ANY(%s)
                  ORDER BY created_at DESC LIMIT 1)
       AND status = %s
    RETURNING {all_columns(Payment)}
"""


def _authorized_for_capture(order_id: uuid.UUID, key: str) -> Payment | None:
    rows = rows_returned(
        Payment, _CLAIM_CAPTURE, [key, timezone.now(), order_id, list(_LIVE), Status.AUTHORIZED]
    )
    return rows[0] if rows else None


def _live_payment_or_none(order_id: uuid.UUID) -> Payment | None:
    return (
        Payment.objects.filter(order_id=order_id, status__in=_LIVE).order_by("-created_at").first()
    )


def _live_payment(order_id: uuid.UUID) -> Payment:
    payment = _live_payment_or_none(order_id)
    if payment is None:
        raise PaymentNotFound(f"Order {order_id} has no authorized payment.", code="no_payment")
    return payment


def _operation_key(payment: Payment, field: str, key: str) -> str:
    """Record the intent: the first key used for this operation is kept and reused, so a
    retry under another key cannot make the gateway do the operation twice."""
    if Payment.objects.filter(Q(pk=payment.pk) & Q(**{f"{field}__isnull": True})).update(
        **{field: key, "updated_at": timezone.now()}
    ):
        setattr(payment, field, key)
        return key  # ours is the first
    stored: str = Payment.objects.values_list(field, flat=True).get(pk=payment.pk)
    if stored != key:
        logger.info("payment %s: %s reuses the first key %s", payment.pk, field, stored)
    return stored


def _failure(exc: PaymentError) -> dict[str, Any]:
    return {"failure_code": exc.code, "failure_message": exc.message}


def _record(payment: Payment, expected: str, *, guard: Q | None = None, **changes: Any) -> Payment:
    """Write the gateway's answer only if the payment is still in the state we acted on: a
    concurrent repeat may have recorded the same answer first, which is just as good (then
    the row is read again; otherwise the answer we wrote is the row's)."""
    now = timezone.now()
    if guard is None:
        updated = update_where(
            Payment, {"id": payment.pk, "status": expected}, {**changes, "updated_at": now}
        )
    else:
        rows = Payment.objects.filter(guard, pk=payment.pk, status=expected)
        updated = rows.update(**changes, updated_at=now)
    if not updated:
        return Payment.objects.get(pk=payment.pk)
    for name, value in {**changes, "updated_at": now}.items():
        setattr(payment, name, value)
    return payment
