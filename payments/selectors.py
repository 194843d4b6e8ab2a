from __future__ import annotations

import uuid

from .models import Payment


def payments_for_order(*, order_id: uuid.UUID) -> list[Payment]:
    """Every payment attempt of an order, newest first."""
    return list(Payment.objects.filter(order_id=order_id).order_by("-created_at"))
