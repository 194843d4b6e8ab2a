"""What the customer is told about an order: the recipient and the template context, read
from the order read model. Used by the fulfilment saga's confirmation step, by the
subscriber that sends the other order emails (subscribers.py), and by the back office's
"resend the confirmation e-mail" (registered on the order page from apps.py)."""

from __future__ import annotations

import smtplib
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model

from eventstore.prepared import fetch_prepared
from orders.admin_actions import OrderPageAction
from orders.commands import orders
from orders.models import OrderView
from orders.selectors import ORDER_VIEW_COLUMNS, order_view_from_aggregate, order_view_from_row

from .exceptions import EmailNotSent, NoEmailAddress
from .notifications import ORDER_CONFIRMED, email_send


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str


def order_recipient(*, customer_id: uuid.UUID) -> Recipient | None:
    """The customer's address and the name to greet them by; None without an address."""
    row = (
        get_user_model()
        .objects.filter(pk=customer_id)
        .values_list("email", "first_name", "username")
        .first()
    )
    if row is None or not row[0]:
        return None
    email, first_name, username = row
    return Recipient(email=email, name=first_name or username)


def order_with_recipient(
    order_id: uuid.UUID, *, min_version: int = 0
) -> tuple[OrderView, Recipient | None]:
    """The order (at `min_version` or later) and its recipient: the read-model row and the
    customer in one statement, or, while the read model has no such row, the order rebuilt
    from its events and the recipient read apart."""
    rows = fetch_prepared(_ORDER_WITH_RECIPIENT, [order_id, min_version])
    row = rows[0] if rows else None
    if row is None:
        rebuilt = order_view_from_aggregate(orders.get(order_id))
        return rebuilt, order_recipient(customer_id=rebuilt.customer_id)
    view = order_view_from_row(row)
    email, first_name, username = row[len(ORDER_VIEW_COLUMNS) :]
    if not email:
        return view, None
    return view, Recipient(email=email, name=first_name or username)


# Written out rather than built with the ORM, and prepared on the server: an order e-mail is
# sent at least twice per fulfilment, and compiling the annotated query cost more CPU than
# running it.
_ORDER_WITH_RECIPIENT = f"""
    SELECT {", ".join(f"v.{column}" for column in ORDER_VIEW_COLUMNS)},
           u.email, u.first_name, u.username
      FROM order_views v
      LEFT JOIN {get_user_model()._meta.db_table} u ON u.id = v.customer_id
     WHERE v.order_id = %s AND v.version >= %s
"""


def order_email_context(view: OrderView, recipient: Recipient, **extra: Any) -> dict[str, Any]:
    """The context every order template reads (see sagas.notifications), plus `extra`."""
    return {
        "order_id": str(view.order_id),
        "customer_name": recipient.name,
        "lines": list(view.items),
        "total": view.total_amount,
        "currency": view.currency,
        **extra,
    }


def order_confirmation_resend(view: OrderView, user: Any) -> str:
    """Send the order's confirmation e-mail again, now (outside any transaction: the admin
    view holds none). A fresh Message-ID: it is a new message, not a retry of the first."""
    recipient = order_recipient(customer_id=view.customer_id)
    if recipient is None:
        raise NoEmailAddress(view.customer_id)
    try:
        email_send(
            template=ORDER_CONFIRMED,
            to=[recipient.email],
            context=order_email_context(view, recipient),
            idempotency_key=f"{view.order_id}:confirmation-resent:{uuid.uuid4()}",
        )
    except (smtplib.SMTPException, OSError) as exc:
        raise EmailNotSent(exc) from exc
    return f"The confirmation e-mail was sent again to {recipient.email}."


RESEND_CONFIRMATION = OrderPageAction(
    name="resend_confirmation",
    label="Resend the confirmation e-mail",
    permission="orders.resend_order_email",
    applies=lambda view: view.confirmed_at is not None,
    run=order_confirmation_resend,
)
