"""The order-fulfilment saga: what turns a confirmed order into a paid one, or back into
nothing — no stock held, no money taken.

    (order_confirmed) ─► reserve_stock ─► authorize_payment ─► capture_payment ─► send_confirmation
     cancel_order    ◄─ release_stock ◄─ void_or_refund       (point of no        (best effort)
                                                                return)

It starts because `sagas` subscribes to OrderConfirmed (subscribers.py); its id is
`orders.domain.saga_id_for(order_id)`, so an order has at most one. Each step reads the order
again and stops (compensates) when the customer cancelled meanwhile:

- order_confirmed: the confirmation that started the saga, a compensation-only step
  (completed on start, no run of its own). Compensation: cancel the order with the saga's
  failure reason (skipped when it is already CANCELLED); it runs last, after the money and
  the stock were given back.
- reserve_stock: the order is CONFIRMED; its lines, total and currency go into the saga data,
  and `stock_reserve` holds the lines until INVENTORY_RESERVATION_TTL. OutOfStock is
  permanent (`out_of_stock`), StockBusy transient. Compensation: release the reservation,
  and return committed units if a crashed capture step had committed them.
- authorize_payment: `payment_authorize` with the token from the OrderConfirmed event (never
  copied into the saga data), then RecordPaymentAuthorized on the order. A decline is
  permanent (`payment_declined`); gateway trouble is retried, and when retries run out the
  reason is `payment_failed`. Compensation: ask the gateway what it holds, then void the
  authorization, or refund it when a (crashed or failed) capture step captured it.
- capture_payment: capture, commit the reservation, then MarkOrderPaid in the transaction
  that records the step's outcome (one flushing commit for both; likewise
  RecordPaymentAuthorized commits with the authorize step's outcome). Whatever of it fails —
  a refused capture, a reservation no longer active, an order that cannot be marked PAID —
  is permanent, and the compensations above, which look at what really happened (payment
  and reservation status), refund a capture and return committed stock.
- send_confirmation: the confirmation email; best effort: retried, then recorded, and it
  never undoes a paid order.

Every step and compensation is idempotent and keyed `saga_id:step` (payments use the key,
reservations are unique per order and product, order commands are no-ops when repeated).

Timers nest (checked at start-up, see checks.py): each step has FULFILMENT_STEP_DEADLINE;
an order still unpaid FULFILMENT_PAYMENT_TIMEOUT after confirmation is compensated with
reason `timeout` by `fulfilment_timeouts_enforce` (beat), which bounds how long an
authorization is held uncaptured; both stay inside the reservation TTL and the gateway's
authorization lifetime. While the saga is active its reservations never expire (the guard
registered in apps.py); once it has finished, expiry is the safety net.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from eventstore.commands import dispatch
from eventstore.store import load
from inventory.exceptions import OutOfStock, ReservationNotActive, StockBusy, UnknownProduct
from inventory.services import stock_commit, stock_release, stock_reserve, stock_return
from orders.commands import (
    CancelOrder,
    MarkOrderPaid,
    RecordPaymentAuthorized,
    RecordPaymentRefunded,
    orders,
)
from orders.domain import (
    SAGA,
    OrderCancelled,
    OrderConfirmed,
    OrderStatus,
    PaymentStatus,
    saga_id_for,
)
from orders.exceptions import IllegalTransition
from orders.models import OrderView
from orders.selectors import order_view_find, order_view_from_aggregate
from payments.exceptions import (
    PaymentDeclined,
    PaymentIdempotencyConflict,
    PaymentNotFound,
    PaymentTransientError,
)
from payments.models import Payment
from payments.selectors import payments_for_order
from payments.services import payment_authorize, payment_capture, payment_refund, payment_void

from .domain import (
    ACTIVE_STATUSES,
    DEADLINE_REASON,
    PermanentStepError,
    SagaDefinition,
    SagaStatus,
    Step,
    StepContext,
    TransientStepError,
)
from .exceptions import SagaBusy, SagaIllegalTransition
from .models import SagaInstance
from .notifications import ORDER_CONFIRMED, email_send
from .order_emails import order_email_context, order_with_recipient
from .registry import register_saga
from .services import saga_compensate, saga_start

logger = logging.getLogger(__name__)

FULFILMENT_SAGA = "order_fulfilment"

# Failure reasons: the saga's failure_reason, and the reason the order is cancelled with.
OUT_OF_STOCK = "out_of_stock"
STOCK_BUSY = "stock_busy"
PAYMENT_DECLINED = "payment_declined"
PAYMENT_FAILED = "payment_failed"
TIMEOUT = DEADLINE_REASON  # "timeout": a step deadline or the payment timeout passed
CANCELLED_BY_CUSTOMER = "cancelled_by_customer"

ORDER_CONFIRMED_STEP = "order_confirmed"
RESERVE_STOCK = "reserve_stock"
AUTHORIZE_PAYMENT = "authorize_payment"
CAPTURE_PAYMENT = "capture_payment"
SEND_CONFIRMATION = "send_confirmation"
# Where the payment timeout may still undo the saga. The capture step is excluded: it is
# bounded by its own deadline, and once it has run the order may already be PAID.
BEFORE_CAPTURE = (RESERVE_STOCK, AUTHORIZE_PAYMENT)


# --- reading the order


def order_read(order_id: uuid.UUID) -> OrderView:
    """The order as the read model shows it (written in the same transaction as its
    events); rebuilt from the events if the row is missing."""
    view = order_view_find(order_id)
    if view is not None:
        return view
    order = orders.get(order_id)
    if order.version == 0:
        raise PermanentStepError(f"order {order_id} does not exist", reason="order_not_found")
    return order_view_from_aggregate(order)


def _order_id(ctx: StepContext) -> uuid.UUID:
    return uuid.UUID(ctx.data["order_id"])


def _still_wanted(ctx: StepContext, undo_own_effect: Callable[[], Any] | None = None) -> OrderView:
    """Re-read the order; a cancelled order stops the saga (its compensations run). A step
    that stops here first undoes what an earlier run of itself may have done before its
    outcome was lost (`undo_own_effect`): only completed steps are compensated."""
    view = order_read(_order_id(ctx))
    if view.status == OrderStatus.CANCELLED:
        if undo_own_effect is not None:
            undo_own_effect()
        raise PermanentStepError(
            f"order was cancelled ({view.cancellation_reason})", reason=CANCELLED_BY_CUSTOMER
        )
    return view


def _payment_token_still_wanted(ctx: StepContext, undo_own_effect: Callable[[], Any]) -> str:
    """The card token of the latest OrderConfirmed, read from the event stream each time so
    it never sits in the saga's data (which staff can read); the same read tells whether the
    customer cancelled meanwhile, as `_still_wanted` does from the read model."""
    events = load(_order_id(ctx))
    for recorded in events:
        if isinstance(recorded.event, OrderCancelled):
            undo_own_effect()
            raise PermanentStepError(
                f"order was cancelled ({recorded.event.reason})", reason=CANCELLED_BY_CUSTOMER
            )
    for recorded in reversed(events):
        if isinstance(recorded.event, OrderConfirmed):
            return recorded.event.payment_token
    raise PermanentStepError("the order was never confirmed", reason=PAYMENT_FAILED)


def _dispatch(ctx: StepContext, command: Any) -> Any:
    return dispatch(command, correlation_id=str(ctx.saga_id))


# --- steps and their compensations


def cancel_order(ctx: StepContext) -> Mapping[str, Any]:
    """Runs last, once money and stock are back. Cancelling twice is a no-op.

    Only completed steps are compensated, but a step whose outcome was lost (the gateway
    authorized, or the stock was reserved, then the worker died and the deadline passed)
    may have left an authorization or a reservation behind. Both undos look at the real
    state and are idempotent, so this last compensation repeats them: after the earlier
    compensations they change nothing, after a lost outcome they release what it held."""
    order_id = _order_id(ctx)
    undone = void_or_refund_payment(ctx)
    release_stock(ctx)
    view = order_read(order_id)
    if view.status == OrderStatus.CANCELLED:
        _record_refund_of_a_capture(ctx, order_id, view.payment_status)
        return {"order_cancelled": "already"}
    reason = ctx.failure_reason or "fulfilment_failed"
    refunded = bool(ctx.data.get("payment_refunded") or undone.get("payment_refunded"))
    if view.status == OrderStatus.PAID:
        # Only after a crash: the capture step marked the order PAID but its outcome was
        # lost and it then timed out. The payment compensation has refunded the capture, so
        # the order is cancelled (its rule: with a refund) with the refund already made.
        logger.warning("saga %s: cancelling order %s that was PAID", ctx.saga_id, order_id)
        refunded = True
    try:
        _dispatch(ctx, CancelOrder(order_id=order_id, actor=SAGA, reason=reason, refunded=refunded))
    except IllegalTransition:
        if order_read(order_id).status != OrderStatus.CANCELLED:
            raise
        # The customer cancelled in the same moment: the order is cancelled either way.
    return {"order_cancelled": reason}


def _record_refund_of_a_capture(ctx: StepContext, order_id: uuid.UUID, payment_status: str) -> None:
    """The customer cancelled between the capture and PAID: the order was cancelled from
    CONFIRMED, so it reads VOIDED, but the bank had captured and the compensation refunded
    it. The order records that refund, so it never shows less than the bank did."""
    if payment_status != PaymentStatus.VOIDED:
        return
    refunded = [
        p for p in payments_for_order(order_id=order_id) if p.status == Payment.Status.REFUNDED
    ]
    if not refunded:
        return
    payment = refunded[-1]
    try:
        _dispatch(
            ctx,
            RecordPaymentRefunded(
                order_id=order_id,
                actor=SAGA,
                payment_id=payment.id,
                amount=payment.refunded_amount,
            ),
        )
    except IllegalTransition:
        if order_read(order_id).payment_status != PaymentStatus.REFUNDED:
            raise


def reserve_stock(ctx: StepContext) -> Mapping[str, Any]:
    view = _still_wanted(ctx, lambda: stock_release(order_id=_order_id(ctx)))
    if view.status != OrderStatus.CONFIRMED:
        raise PermanentStepError(
            f"order is {view.status}, not CONFIRMED", reason=f"order_{view.status.lower()}"
        )
    # What later steps need, as the order was confirmed (its lines cannot change since).
    ctx.data["total"] = str(view.total_amount)
    ctx.data["currency"] = view.currency
    ctx.data["lines"] = [[item["product_id"], item["quantity"]] for item in view.items]
    lines = [(uuid.UUID(item["product_id"]), int(item["quantity"])) for item in view.items]
    expires_at = timezone.now() + settings.INVENTORY_RESERVATION_TTL
    try:
        reservations = stock_reserve(order_id=_order_id(ctx), lines=lines, expires_at=expires_at)
    except OutOfStock as exc:
        raise PermanentStepError(exc.detail, reason=OUT_OF_STOCK) from exc
    except UnknownProduct as exc:
        raise PermanentStepError(exc.detail, reason=OUT_OF_STOCK) from exc
    except StockBusy as exc:
        raise TransientStepError(exc.detail, reason=STOCK_BUSY) from exc
    except ReservationNotActive as exc:
        # Reserved by an earlier attempt and expired since: too late.
        raise PermanentStepError(exc.detail, reason=TIMEOUT) from exc
    return {"reserved_until": min(r.expires_at for r in reservations).isoformat()}


def release_stock(ctx: StepContext) -> Mapping[str, Any]:
    order_id = _order_id(ctx)
    released = stock_release(order_id=order_id)
    # Units a capture step committed before it failed go back on hand.
    returned = stock_return(order_id=order_id)
    return {"stock_released": len(released), "stock_returned": len(returned)}


def authorize_payment(ctx: StepContext) -> Mapping[str, Any]:
    order_id = _order_id(ctx)
    token = _payment_token_still_wanted(ctx, lambda: _void(order_id, f"{ctx.idempotency_key}:void"))
    try:
        payment = payment_authorize(
            order_id=order_id,
            amount=Decimal(ctx.data["total"]),
            currency=ctx.data["currency"],
            token=token,
            idempotency_key=ctx.idempotency_key,
        )
    except PaymentDeclined as exc:
        raise PermanentStepError(f"{exc.code}: {exc.message}", reason=PAYMENT_DECLINED) from exc
    except PaymentIdempotencyConflict as exc:
        raise PermanentStepError(f"{exc.code}: {exc.message}", reason=PAYMENT_FAILED) from exc
    except PaymentTransientError as exc:
        raise TransientStepError(f"{exc.code}: {exc.message}", reason=PAYMENT_FAILED) from exc
    ctx.commit_with_outcome(lambda: _record_authorized(ctx, order_id, payment))
    return {"payment_id": str(payment.id)}


def _record_authorized(ctx: StepContext, order_id: uuid.UUID, payment: Payment) -> None:
    try:
        _dispatch(
            ctx,
            RecordPaymentAuthorized(
                order_id=order_id, actor=SAGA, payment_id=payment.id, amount=payment.amount
            ),
        )
    except IllegalTransition:
        if order_read(order_id).status != OrderStatus.CANCELLED:
            raise
        # Cancelled while we authorized: the step still succeeded (money is held), so the
        # capture step sees the cancellation and the void compensation gives it back.


def _void(order_id: uuid.UUID, key: str) -> None:
    try:
        payment_void(order_id=order_id, idempotency_key=key)
    except PaymentTransientError as exc:
        message = f"void failed: {exc.code}: {exc.message}"
        raise TransientStepError(message, reason=exc.code) from exc


def void_or_refund_payment(ctx: StepContext) -> Mapping[str, Any]:
    """Give the money back in whatever state the gateway holds it: void an authorization,
    refund a capture (made by a capture step that failed afterwards or whose outcome was
    lost). payment_void and payment_refund reconcile our record with the gateway before they
    decide, so a capture the gateway made but we never recorded is recorded, then refunded."""
    order_id = _order_id(ctx)
    try:
        payment = payment_void(order_id=order_id, idempotency_key=f"{ctx.idempotency_key}:void")
    except PaymentDeclined as exc:
        if exc.code != "already_captured":
            raise PermanentStepError(
                f"void refused: {exc.code}: {exc.message}", reason=exc.code
            ) from exc
    except PaymentTransientError as exc:
        raise TransientStepError(
            f"void failed: {exc.code}: {exc.message}", reason=exc.code
        ) from exc
    else:
        return {"payment_undone": payment.status if payment else "NONE"}
    try:
        payment_refund(order_id=order_id, idempotency_key=f"{ctx.idempotency_key}:refund")
    except PaymentDeclined as exc:
        raise PermanentStepError(
            f"refund refused: {exc.code}: {exc.message}", reason=exc.code
        ) from exc
    except PaymentTransientError as exc:
        raise TransientStepError(
            f"refund failed: {exc.code}: {exc.message}", reason=exc.code
        ) from exc
    return {"payment_undone": "REFUNDED", "payment_refunded": True}


def capture_payment(ctx: StepContext) -> Mapping[str, Any]:
    order_id = _order_id(ctx)
    view = _still_wanted(ctx)
    if view.status == OrderStatus.PAID:
        return {"paid": True}  # a repeat after the outcome of a finished run was lost
    try:
        payment = payment_capture(order_id=order_id, idempotency_key=ctx.idempotency_key)
    except (PaymentDeclined, PaymentNotFound) as exc:
        raise PermanentStepError(f"{exc.code}: {exc.message}", reason=PAYMENT_FAILED) from exc
    except PaymentTransientError as exc:
        raise TransientStepError(f"{exc.code}: {exc.message}", reason=PAYMENT_FAILED) from exc
    try:
        # Its own short commit (not with the outcome): the product's stock row stays locked
        # until this commits, and every buyer of a hot product waits behind that lock.
        stock_commit(order_id=order_id)
    except ReservationNotActive as exc:
        # The stock may be someone else's by now: the payment compensation refunds.
        raise PermanentStepError(exc.detail, reason=TIMEOUT) from exc
    ctx.commit_with_outcome(lambda: _mark_paid(ctx, order_id, payment))
    return {"paid": True}


def _mark_paid(ctx: StepContext, order_id: uuid.UUID, payment: Payment) -> None:
    """The order PAID, together with the capture step's outcome: if it is refused, the
    compensations refund the capture and return the committed stock."""
    try:
        _dispatch(ctx, MarkOrderPaid(order_id=order_id, actor=SAGA, payment_id=payment.id))
    except IllegalTransition as exc:
        cancelled = order_read(order_id).status == OrderStatus.CANCELLED
        raise PermanentStepError(
            f"order could not be marked PAID: {exc.detail}",
            reason=CANCELLED_BY_CUSTOMER if cancelled else PAYMENT_FAILED,
        ) from exc


def send_confirmation(ctx: StepContext) -> Mapping[str, Any]:
    view, recipient = order_with_recipient(_order_id(ctx))
    if recipient is None:
        return {"confirmation": "no_address"}
    email_send(
        template=ORDER_CONFIRMED,
        to=[recipient.email],
        context=order_email_context(view, recipient),
        idempotency_key=ctx.idempotency_key,
    )
    return {"confirmation": "sent"}


def _step_deadline() -> timedelta:
    return settings.FULFILMENT_STEP_DEADLINE


FULFILMENT = register_saga(
    SagaDefinition(
        saga_type=FULFILMENT_SAGA,
        steps=(
            Step(ORDER_CONFIRMED_STEP, None, compensation=cancel_order),
            Step(RESERVE_STOCK, reserve_stock, compensation=release_stock, deadline=_step_deadline),
            Step(
                AUTHORIZE_PAYMENT,
                authorize_payment,
                compensation=void_or_refund_payment,
                deadline=_step_deadline,
            ),
            Step(CAPTURE_PAYMENT, capture_payment, deadline=_step_deadline),
            Step(SEND_CONFIRMATION, send_confirmation, best_effort=True, deadline=_step_deadline),
        ),
    )
)


# --- starting, guarding and timing out


def fulfilment_start(
    *, order_id: uuid.UUID, customer_id: uuid.UUID | None, correlation_id: str
) -> bool:
    """Create the order's fulfilment saga; its first run is published on commit. Call it in
    the transaction that confirms the order. Idempotent (the saga id is the order's)."""
    return saga_start(
        saga_type=FULFILMENT_SAGA,
        saga_id=saga_id_for(order_id),
        correlation_id=correlation_id,
        data={"order_id": str(order_id)},
        owner_id=customer_id,
    )


def fulfilment_is_active(order_id: uuid.UUID) -> bool:
    """The inventory reservation guard: an order's reservations do not expire while its
    fulfilment saga is still RUNNING or COMPENSATING (the saga settles them itself)."""
    return SagaInstance.objects.filter(
        pk=saga_id_for(order_id), status__in=ACTIVE_STATUSES
    ).exists()


def fulfilment_timeouts_enforce(*, now: datetime | None = None) -> int:
    """Compensate, with reason `timeout`, every fulfilment saga whose order is still unpaid
    FULFILMENT_PAYMENT_TIMEOUT after it was confirmed, as long as it has not reached the
    capture step. A saga a worker holds right now is left for the next run. Returns how
    many were set compensating."""
    cutoff = (now or timezone.now()) - settings.FULFILMENT_PAYMENT_TIMEOUT
    overdue = list(
        SagaInstance.objects.filter(
            saga_type=FULFILMENT_SAGA,
            status=SagaStatus.RUNNING,
            current_step__in=BEFORE_CAPTURE,
            created_at__lte=cutoff,
        ).values_list("saga_id", flat=True)
    )
    compensated = 0
    for saga_id in overdue:
        try:
            saga_compensate(
                saga_id=saga_id,
                reason=TIMEOUT,
                actor="payment timeout",
                only_at_steps=BEFORE_CAPTURE,
            )
        except (SagaBusy, SagaIllegalTransition) as exc:
            logger.info("saga %s not timed out now: %s", saga_id, exc.detail)
            continue
        compensated += 1
    if compensated:
        logger.info("payment timeout: %d unpaid order(s) being cancelled", compensated)
    return compensated
