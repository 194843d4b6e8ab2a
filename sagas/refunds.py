"""The order-refund saga: money owed back to a customer is paid back, however long it takes.

Orders decides that a refund is owed and records it (OrderCancelled with refund `owed` when
staff cancel a PAID order; OrderRefunded when staff refund a SHIPPED or DELIVERED one);
`sagas` subscribes to those events and starts this saga in the same transaction
(subscribers.py). Running it as a saga rather than as a fire-and-forget task means the
database holds the intent: a lost broker message or a dead worker is picked up by the
sweeper, and retries are timed by the engine.

    refund_payment ─► return_stock ─► record_refund

- refund_payment: `payment_refund` of the order's captured payment, keyed `saga_id:step`;
- return_stock: for a cancelled PAID order, its committed units go back on hand
  (`stock_return`; anything still reserved is released); a refunded SHIPPED or DELIVERED
  order's goods are with the customer, so nothing is booked;
- record_refund: RecordPaymentRefunded on the order (payment status REFUND_PENDING →
  REFUNDED), which also sends the "refunded" email (subscribers.py).

Every step is past the point of no return (`must_complete`): nothing is undone, and a step
that keeps failing leaves the saga FAILED for staff, who retry it (admin or
POST /api/v1/sagas/{id}/retry/) once the cause is fixed, or refund by hand and mark it
resolved. Its id is `refund_saga_id_for(order_id)`, so an order has at most one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from eventstore.commands import dispatch
from inventory.services import stock_release, stock_return
from orders.commands import RecordPaymentRefunded
from orders.domain import SAGA, saga_id_for
from orders.exceptions import IllegalTransition
from payments.exceptions import PaymentDeclined, PaymentTransientError
from payments.services import payment_refund

from .domain import PermanentStepError, SagaDefinition, Step, StepContext, TransientStepError
from .registry import register_saga
from .services import saga_start

REFUND_SAGA = "order_refund"

REFUND_PAYMENT = "refund_payment"
RETURN_STOCK = "return_stock"
RECORD_REFUND = "record_refund"


def refund_saga_id_for(order_id: uuid.UUID) -> uuid.UUID:
    """Derived like the fulfilment saga's id (from it, in fact): one refund per order."""
    return uuid.uuid5(saga_id_for(order_id), "refund")


def _order_id(ctx: StepContext) -> uuid.UUID:
    return uuid.UUID(ctx.data["order_id"])


def refund_payment(ctx: StepContext) -> Mapping[str, Any]:
    try:
        payment = payment_refund(order_id=_order_id(ctx), idempotency_key=ctx.idempotency_key)
    except PaymentDeclined as exc:
        raise PermanentStepError(f"{exc.code}: {exc.message}", reason="refund_refused") from exc
    except PaymentTransientError as exc:
        raise TransientStepError(f"{exc.code}: {exc.message}", reason="refund_failed") from exc
    if payment is None:
        raise PermanentStepError("the order has no payment to refund", reason="no_payment")
    return {"payment_id": str(payment.id), "refunded_amount": str(payment.refunded_amount)}


def return_stock(ctx: StepContext) -> Mapping[str, Any]:
    if not ctx.data.get("return_stock"):
        return {"stock_returned": 0}
    order_id = _order_id(ctx)
    returned = stock_return(order_id=order_id)
    released = stock_release(order_id=order_id)
    return {"stock_returned": len(returned) + len(released)}


def record_refund(ctx: StepContext) -> Mapping[str, Any]:
    try:
        dispatch(
            RecordPaymentRefunded(
                order_id=_order_id(ctx),
                actor=SAGA,
                payment_id=uuid.UUID(ctx.data["payment_id"]),
                amount=Decimal(ctx.data["refunded_amount"]),
            ),
            correlation_id=str(ctx.saga_id),
        )
    except IllegalTransition as exc:
        raise PermanentStepError(exc.detail, reason="refund_not_pending") from exc
    return {"refund_recorded": True}


ORDER_REFUND = register_saga(
    SagaDefinition(
        saga_type=REFUND_SAGA,
        steps=(
            Step(REFUND_PAYMENT, refund_payment, must_complete=True),
            Step(RETURN_STOCK, return_stock, must_complete=True),
            Step(RECORD_REFUND, record_refund, must_complete=True),
        ),
    )
)


def refund_start(
    *,
    order_id: uuid.UUID,
    customer_id: uuid.UUID | None,
    correlation_id: str,
    return_stock: bool,
    reason: str,
) -> bool:
    """Create the order's refund saga; its first run is published on commit. Call it in the
    transaction that records the refund as owed. Idempotent."""
    return saga_start(
        saga_type=REFUND_SAGA,
        saga_id=refund_saga_id_for(order_id),
        correlation_id=correlation_id,
        data={"order_id": str(order_id), "return_stock": return_stock, "reason": reason},
        owner_id=customer_id,
    )
