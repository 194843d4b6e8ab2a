"""What the customer is told about an order: the recipient and the template context, read
from the order read model. Used by the fulfilment saga's confirmation step and by the
subscriber that sends the other order emails (subscribers.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model

from orders.models import OrderView


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
