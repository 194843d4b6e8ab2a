"""OrderCancelled version 1 (flags: by_staff, refund_pending, refunded) is upcast on load to
version 2 (cancelled_by, refund); the read models built from a stored version-1 event are
what they always were."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from django.db import connection

from accounts.models import User
from eventstore.commands import dispatch
from eventstore.events import deserialize_event
from eventstore.rebuild import rebuild_projection
from eventstore.store import load
from inventory.models import Product
from orders.commands import CancelOrder
from orders.domain import ActorKind, OrderCancelled, Refund
from orders.models import CustomerOrderStats, OrderTally, OrderView
from tests.eventstore.conftest import xmin_held_back

from .conftest import BACK_OFFICE, catch_up, make_order, pay_order
from .scenario import AT


def _v1(*, by_staff: bool, refund_pending: bool, refunded: bool, amount: str) -> dict[str, Any]:
    return {
        "reason": "out_of_stock",
        "by_staff": by_staff,
        "refund_pending": refund_pending,
        "refunded": refunded,
        "refund_amount": amount,
        "occurred_at": AT.isoformat(),
    }


@pytest.mark.parametrize(
    ("v1", "cancelled_by", "refund"),
    [
        # the customer's cancel (or the saga's, without money involved: v1 cannot tell)
        (_v1(by_staff=False, refund_pending=False, refunded=False, amount="0"), "customer", "none"),
        # staff cancelling a CONFIRMED order
        (_v1(by_staff=True, refund_pending=False, refunded=False, amount="0"), "staff", "none"),
        # staff cancelling a PAID order: the refund is owed
        (_v1(by_staff=True, refund_pending=True, refunded=False, amount="25.00"), "staff", "owed"),
        # the saga gave back a capture before PAID was recorded
        (
            _v1(by_staff=False, refund_pending=False, refunded=True, amount="25.00"),
            "saga",
            "returned",
        ),
        # the saga cancelling a PAID order it had refunded (it passed by_staff=True)
        (
            _v1(by_staff=True, refund_pending=False, refunded=True, amount="25.00"),
            "saga",
            "returned",
        ),
    ],
)
def test_a_version_1_payload_loads_in_the_current_shape(
    v1: dict[str, Any], cancelled_by: str, refund: str
) -> None:
    # when
    event = deserialize_event("OrderCancelled", 1, v1)
    # then
    assert event == OrderCancelled(
        reason="out_of_stock",
        cancelled_by=ActorKind(cancelled_by),
        refund=Refund(refund),
        refund_amount=Decimal(v1["refund_amount"]),
        occurred_at=AT,
    )


_READ_MODEL = ("status", "payment_status", "cancellation_reason", "total_amount")
_TALLY = ("placed", "paid", "cancelled", "amount_paid", "amount_refunded")


@pytest.mark.parametrize(
    "horizon",
    [
        pytest.param(nullcontext, id="xmin-free"),
        # Another session on the same server (any database) with a transaction open: the
        # rebuild of the asynchronous stats folds only what is below the cluster's xmin and
        # leaves the rest to the catch-up runner.
        pytest.param(xmin_held_back, id="xmin-held-back-by-another-session"),
    ],
)
@pytest.mark.django_db(transaction=True)
def test_a_stored_version_1_cancel_projects_as_a_cancel_recorded_today(
    customer: User, widget: Product, horizon: Callable[[], AbstractContextManager[object]]
) -> None:
    # given: staff cancelled one PAID order today, and another one when OrderCancelled was
    # version 1 (stored as it was then; no projection saw it)
    today = make_order(customer, lines=[(widget, 2)], to="PAID")
    dispatch(CancelOrder(order_id=today.id, actor=BACK_OFFICE, reason="out_of_stock"))
    old = make_order(customer, lines=[(widget, 2)], to="CONFIRMED")
    with horizon():
        old = pay_order(old)
        v1 = _v1(by_staff=True, refund_pending=True, refunded=False, amount="25.00")
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO events (id, aggregate_id, aggregate_type, event_type, event_data, "
                "version, metadata) VALUES (%s, %s, 'Order', 'OrderCancelled', %s, %s, %s)",
                [
                    uuid4(),
                    old.id,
                    json.dumps(v1),
                    old.version + 1,
                    json.dumps({"schema_version": 1, "actor": str(BACK_OFFICE)}),
                ],
            )
        # when
        rebuild_projection("order_views")
        rebuild_projection("customer_order_stats")
    # (the stats are asynchronous: the rebuild stops at the cluster's xmin, the runner
    # folds the rest)
    catch_up()
    # then the stored event loads in the current shape
    assert load(old.id)[-1].event == OrderCancelled(
        reason="out_of_stock",
        cancelled_by=ActorKind.STAFF,
        refund=Refund.OWED,
        refund_amount=Decimal("25.00"),
        occurred_at=AT,
    )
    assert load(today.id)[-1].event == OrderCancelled(
        reason="out_of_stock",
        cancelled_by=ActorKind.STAFF,
        refund=Refund.OWED,
        refund_amount=Decimal("25.00"),
        occurred_at=load(today.id)[-1].event.occurred_at,  # type: ignore[attr-defined]
    )
    # and the read models of both orders are the same
    views = {v.order_id: v for v in OrderView.objects.filter(pk__in=[old.id, today.id])}
    assert [getattr(views[old.id], f) for f in _READ_MODEL] == [
        getattr(views[today.id], f) for f in _READ_MODEL
    ]
    assert views[old.id].status == "CANCELLED"
    assert views[old.id].payment_status == "REFUND_PENDING"
    tallies = {t.order_id: t for t in OrderTally.objects.filter(pk__in=[old.id, today.id])}
    assert [getattr(tallies[old.id], f) for f in _TALLY] == [
        getattr(tallies[today.id], f) for f in _TALLY
    ]
    stats = CustomerOrderStats.objects.get(customer_id=customer.pk, currency="EUR")
    assert (stats.orders_cancelled, stats.amount_refunded) == (2, Decimal("50.00"))
