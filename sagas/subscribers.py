"""Process managers on the event store's `events_appended` signal (connected in apps.py).

They run inside the transaction that appends the order's events, so what they start commits
(or rolls back) with the events, and everything that leaves the database waits for the
commit: a saga's first run is published on commit (`saga_start`), an email is sent on commit
(`email_send_on_commit`). A failed publish is logged and the saga sweeper publishes again.

- OrderConfirmed → start the order's fulfilment saga;
- OrderCancelled with a refund owed (staff cancelled a PAID order) → start the refund saga,
  returning the stock; OrderRefunded (staff refunded a SHIPPED or DELIVERED order) → start
  the refund saga, stock stays with the customer;
- any other OrderCancelled → wake the fulfilment saga, so it gives back stock and money at
  once instead of after its current retry delay;
- OrderRefundRequested (staff refunded part of an order) → start that refund's own
  partial-refund saga (partial_refunds.py);
- OrderPaid, OrderShipped, OrderCancelled, OrderPaymentRefunded, OrderRefundCompleted →
  email the customer (each partial refund is its own email; the
  confirmation is the fulfilment saga's own step). An email problem is logged and never
  stops the order's change.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast
from uuid import UUID

from eventstore.prepared import fetch_prepared
from eventstore.store import RecordedEvent, saving_aggregate
from orders.commands import orders
from orders.domain import (
    Order,
    OrderCancelled,
    OrderConfirmed,
    OrderPaid,
    OrderPaymentRefunded,
    OrderRefundCompleted,
    OrderRefunded,
    OrderRefundRequested,
    OrderShipped,
    Refund,
    saga_id_for,
)
from orders.models import OrderView

from .fulfilment import fulfilment_start
from .notifications import (
    ORDER_CANCELLED,
    ORDER_PAID,
    ORDER_REFUNDED,
    ORDER_SHIPPED,
    email_send_on_commit,
)
from .order_emails import order_email_context, order_with_recipient
from .partial_refunds import partial_refund_start
from .refunds import refund_start
from .services import saga_wake

logger = logging.getLogger(__name__)


def order_events_handle(sender: str, events: Sequence[RecordedEvent], **_: Any) -> None:
    """`events_appended` receiver for Order streams."""
    if sender != Order.aggregate_type:
        return
    for recorded in events:
        _start_or_wake_sagas(recorded)
        _notify(recorded)


def _start_or_wake_sagas(recorded: RecordedEvent) -> None:
    event, order_id = recorded.event, recorded.aggregate_id
    if isinstance(event, OrderConfirmed):
        fulfilment_start(
            order_id=order_id,
            customer_id=_customer_of(recorded),
            correlation_id=str(order_id),
        )
    elif isinstance(event, OrderCancelled) and event.refund == Refund.OWED:
        refund_start(
            order_id=order_id,
            customer_id=_customer_of(recorded),
            correlation_id=str(order_id),
            return_stock=True,
            reason=event.reason,
        )
    elif isinstance(event, OrderCancelled):
        saga_wake(saga_id=saga_id_for(order_id))
    elif isinstance(event, OrderRefunded):
        refund_start(
            order_id=order_id,
            customer_id=_customer_of(recorded),
            correlation_id=str(order_id),
            return_stock=False,
            reason=event.reason,
        )
    elif isinstance(event, OrderRefundRequested):
        partial_refund_start(
            order_id=order_id,
            customer_id=_customer_of(recorded),
            refund_id=event.refund_id,
            amount=event.amount,
            lines=event.lines,
            reason=event.reason,
        )


def _customer_of(recorded: RecordedEvent) -> UUID:
    """The order's customer: from the order being saved when it is `recorded`'s (a command's
    append: no query), else from the read model's row when the inline projection has folded
    `recorded` already (it runs on the same signal), else from the events. One column by a
    prepared statement: a whole OrderView through the ORM cost more than the rest of
    starting the saga."""
    saving = saving_aggregate.get()
    if (
        isinstance(saving, Order)
        and saving.id == recorded.aggregate_id
        and saving.customer_id is not None
    ):
        return saving.customer_id
    rows = fetch_prepared(_CUSTOMER_SQL, [recorded.aggregate_id, recorded.version])
    if rows:
        customer_id: UUID = rows[0][0]
        return customer_id
    # None only for a stream without OrderCreated (hand-made in tests), as before.
    return cast(UUID, orders.get(recorded.aggregate_id).customer_id)


_CUSTOMER_SQL = (
    f"SELECT customer_id FROM {OrderView._meta.db_table} WHERE order_id = %s AND version >= %s"
)


_TEMPLATES: dict[type, str] = {
    OrderPaid: ORDER_PAID,
    OrderShipped: ORDER_SHIPPED,
    OrderCancelled: ORDER_CANCELLED,
    OrderPaymentRefunded: ORDER_REFUNDED,
    OrderRefundCompleted: ORDER_REFUNDED,
}


def _notify(recorded: RecordedEvent) -> None:
    event = recorded.event
    template = _TEMPLATES.get(type(event))
    if template is None:
        return
    try:
        view, recipient = order_with_recipient(recorded.aggregate_id, min_version=recorded.version)
        if recipient is None:
            return
        email_send_on_commit(
            template=template,
            to=[recipient.email],
            context=order_email_context(view, recipient, **_details(event, view)),
            idempotency_key=f"{recorded.aggregate_id}:{recorded.version}",
        )
    except Exception:  # an email must never undo or block the order's change
        logger.exception(
            "could not prepare the %s email of order %s", template, recorded.aggregate_id
        )


def _details(event: Any, view: OrderView) -> dict[str, Any]:
    if isinstance(event, OrderShipped):
        return {"carrier": event.carrier, "tracking_number": event.tracking_number}
    if isinstance(event, OrderCancelled):
        return {"reason": event.reason, "refund_amount": event.refund_amount}
    if isinstance(event, OrderPaymentRefunded):
        reason = view.refund_reason or view.cancellation_reason
        return {"reason": reason, "refund_amount": event.amount}
    if isinstance(event, OrderRefundCompleted):
        refund = next(r for r in view.refunds if r["refund_id"] == str(event.refund_id))
        return {"reason": refund["reason"], "refund_amount": event.amount, "partial": True}
    return {}
