"""The partial-refund saga: one per refund staff ask for (OrderRefundRequested), however
many run for the same order at once.

    (refund held on the order) ─► refund_payment ─► return_stock ─► record_refund
             ▲ released (OrderRefundFailed) when refund_payment fails for good

- hold_refund: compensation-only. The amount was set aside on the order when staff asked
  (the order's refundable amount already excludes it); the compensation gives it back,
  after reconciling with the gateway (`payment_refund_part_settle`): a refund whose answers
  were lost is only given up once the gateway's refunded total shows it never went through.
- refund_payment: `payment_refund_part` of this refund's amount, keyed `saga_id:step` (one
  key per refund, since every refund has its own saga). A decline, or transient errors
  past the retry budget or deadline, compensate.
- return_stock (must complete): the lines chosen with `restock: true` go back on hand
  (`stock_units_return`); the others stay with the customer or in the bin.
- record_refund (must complete): OrderRefundCompleted on the order (payment status
  PARTIALLY_REFUNDED, or REFUNDED once the whole capture came back), which also emails the
  customer (subscribers.py).

Past refund_payment the money is gone: those steps are retried and, failing for good, leave
the saga FAILED for staff, like the full refund saga.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from eventstore.commands import dispatch
from inventory.services import stock_units_return
from orders.commands import CompletePartialRefund, FailPartialRefund
from orders.domain import SAGA, RefundLine, saga_id_for
from orders.exceptions import IllegalTransition
from payments.exceptions import PaymentDeclined, PaymentTransientError
from payments.services import payment_refund_part, payment_refund_part_settle

from .domain import PermanentStepError, SagaDefinition, Step, StepContext, TransientStepError
from .registry import register_saga
from .services import saga_start

PARTIAL_REFUND_SAGA = "order_partial_refund"

HOLD_REFUND = "hold_refund"
REFUND_PAYMENT = "refund_payment"
RETURN_STOCK = "return_stock"
RECORD_REFUND = "record_refund"

UNRECONCILED = "refund_unreconciled"
PAID_OUT = "refund_succeeded"


def partial_refund_saga_id_for(order_id: uuid.UUID, refund_id: uuid.UUID) -> uuid.UUID:
    """Derived from the order's saga id and the refund's: one saga per refund."""
    return uuid.uuid5(saga_id_for(order_id), f"refund:{refund_id}")


def _ids(ctx: StepContext) -> tuple[uuid.UUID, uuid.UUID]:
    return uuid.UUID(ctx.data["order_id"]), uuid.UUID(ctx.data["refund_id"])


def release_refund(ctx: StepContext) -> Mapping[str, Any]:
    """Settle a refund whose payment step failed for good: release it when the gateway shows
    it never paid it; finish it when it did (or may have)."""
    order_id, refund_id = _ids(ctx)
    try:
        payment_refund_part_settle(order_id=order_id, refund_id=refund_id)
    except PaymentTransientError as exc:
        if exc.code != UNRECONCILED:
            raise TransientStepError(f"{exc.code}: {exc.message}", reason=exc.code) from exc
        return _finish_instead(ctx)
    except PaymentDeclined as exc:
        if exc.code != PAID_OUT:
            raise PermanentStepError(f"{exc.code}: {exc.message}", reason=exc.code) from exc
        return _finish_instead(ctx)
    try:
        dispatch(
            FailPartialRefund(
                order_id=order_id,
                actor=SAGA,
                refund_id=refund_id,
                reason=ctx.failure_reason or "refund_failed",
            ),
            correlation_id=ctx.correlation_id,
        )
    except IllegalTransition as exc:
        raise PermanentStepError(exc.detail, reason="refund_not_running") from exc
    return {"refund_released": True}


def _finish_instead(ctx: StepContext) -> Mapping[str, Any]:
    """The gateway holds refunded money we cannot account for, so this refund may have been
    paid: it is never released. Ask the gateway again under the refund's own key (it answers
    a request it already served with that answer; one it never saw is paid now, which is
    what staff asked for and the order holds). Paid: the rest of the saga's work is done
    here (restock, OrderRefundCompleted). Declined now: released on the next attempt. No
    answer: retried, then FAILED for staff, whose Retry runs this again."""
    try:
        data = {**ctx.data, **refund_payment(ctx)}
    except PermanentStepError as exc:
        raise TransientStepError(exc.message, reason="refund_refused") from exc
    ctx.data.update(data)
    return {**return_stock(ctx), **record_refund(ctx), "refund_finished_in_compensation": True}


def refund_payment(ctx: StepContext) -> Mapping[str, Any]:
    order_id, refund_id = _ids(ctx)
    try:
        refund = payment_refund_part(
            order_id=order_id,
            refund_id=refund_id,
            amount=Decimal(ctx.data["amount"]),
            idempotency_key=ctx.idempotency_key,
        )
    except PaymentDeclined as exc:
        raise PermanentStepError(f"{exc.code}: {exc.message}", reason="refund_refused") from exc
    except PaymentTransientError as exc:
        raise TransientStepError(f"{exc.code}: {exc.message}", reason="refund_failed") from exc
    return {"payment_id": str(refund.payment_id), "gateway_refund_id": refund.gateway_refund_id}


def return_stock(ctx: StepContext) -> Mapping[str, Any]:
    order_id, refund_id = _ids(ctx)
    lines = [
        (uuid.UUID(line["product_id"]), int(line["quantity"]))
        for line in ctx.data["lines"]
        if line["restock"]
    ]
    returned = stock_units_return(order_id=order_id, refund_id=refund_id, lines=lines)
    return {"stock_lines_returned": returned}


def record_refund(ctx: StepContext) -> Mapping[str, Any]:
    order_id, refund_id = _ids(ctx)
    try:
        dispatch(
            CompletePartialRefund(
                order_id=order_id,
                actor=SAGA,
                refund_id=refund_id,
                payment_id=uuid.UUID(ctx.data["payment_id"]),
                amount=Decimal(ctx.data["amount"]),
            ),
            correlation_id=ctx.correlation_id,
        )
    except IllegalTransition as exc:
        raise PermanentStepError(exc.detail, reason="refund_not_running") from exc
    return {"refund_recorded": True}


ORDER_PARTIAL_REFUND = register_saga(
    SagaDefinition(
        saga_type=PARTIAL_REFUND_SAGA,
        steps=(
            Step(HOLD_REFUND, None, compensation=release_refund),
            Step(REFUND_PAYMENT, refund_payment),
            Step(RETURN_STOCK, return_stock, must_complete=True),
            Step(RECORD_REFUND, record_refund, must_complete=True),
        ),
    )
)


def partial_refund_start(
    *,
    order_id: uuid.UUID,
    customer_id: uuid.UUID | None,
    refund_id: uuid.UUID,
    amount: Decimal,
    lines: tuple[RefundLine, ...],
    reason: str,
) -> bool:
    """Create the refund's saga; its first run is published on commit. Call it in the
    transaction that records OrderRefundRequested. Idempotent."""
    return saga_start(
        saga_type=PARTIAL_REFUND_SAGA,
        saga_id=partial_refund_saga_id_for(order_id, refund_id),
        correlation_id=str(order_id),
        data={
            "order_id": str(order_id),
            "refund_id": str(refund_id),
            "amount": str(amount),
            "lines": [
                {
                    "product_id": str(line.product_id),
                    "quantity": line.quantity,
                    "restock": line.restock,
                }
                for line in lines
            ],
            "reason": reason,
        },
        owner_id=customer_id,
    )
