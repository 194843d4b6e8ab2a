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
from django.db.models import OuterRef, Subquery

from orders.admin_actions import OrderPageAction
from orders.commands import orders
from orders.models import OrderView
from orders.selectors import order_view_from_aggregate

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
    users = get_user_model().objects.filter(pk=OuterRef("customer_id"))
    view = (
        OrderView.objects.filter(pk=order_id, version__gte=min_version)
        .annotate(
            recipient_email=Subquery(users.values("email")[:1]),
            recipient_first_name=Subquery(users.values("first_name")[:1]),
            recipient_username=Subquery(users.values("username")[:1]),
        )
        .first()
    )
    if view is None:
        rebuilt = order_view_from_aggregate(orders.get(order_id))
        return rebuilt, order_recipient(customer_id=rebuilt.customer_id)
    email = getattr(view, "recipient_email", None)
    if not email:
        return view, None
    name = getattr(view, "recipient_first_name", None) or getattr(view, "recipient_username", "")
    return view, Recipient(email=email, name=str(name))


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
