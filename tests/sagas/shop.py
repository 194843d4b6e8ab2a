"""Orders, stock and payments for fulfilment tests, set up through the real services and
commands, and the questions the tests ask about them afterwards."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from eventstore.commands import dispatch
from inventory.models import Product, Reservation, StockItem, StockMovement
from inventory.selectors import stock_drift
from orders.commands import CancelOrder, ConfirmOrder, CreateOrder, LineRequest, orders
from orders.domain import Actor, ShippingAddress, saga_id_for
from orders.models import OrderView
from payments.models import Payment, SandboxCharge, SandboxRequest
from sagas.domain import StepContext, StepKind
from sagas.models import SagaInstance
from sagas.services import Advance, saga_advance
from tests.inventory.factories import ProductFactory

ADDRESS = ShippingAddress(
    name="Ada Lovelace",
    line1="12 St James's Square",
    city="London",
    postal_code="SW1Y 4JH",
    country="GB",
)


def stocked_product(units: int, *, price: str = "12.50") -> Product:
    """A product with `units` on hand, booked through the ledger like a real restock."""
    product: Product = ProductFactory(stock=units, price=Decimal(price))
    return product


def confirmed_order(
    customer: User, lines: list[tuple[Product, int]], *, token: str = "tok_ok"
) -> uuid.UUID:
    """An order created and confirmed through the commands; confirming starts its saga."""
    order_id = uuid.uuid4()
    dispatch(
        CreateOrder(
            order_id=order_id,
            actor=Actor.customer(customer.pk),
            customer_id=customer.pk,
            lines=tuple(LineRequest(product_id=p.pk, quantity=q) for p, q in lines),
            shipping_address=ADDRESS,
        )
    )
    dispatch(
        ConfirmOrder(order_id=order_id, actor=Actor.customer(customer.pk), payment_token=token)
    )
    return order_id


def cancelled_by_customer(order_id: uuid.UUID, *, reason: str = "changed_my_mind") -> None:
    """The order's customer cancels it, through the command the API uses."""
    owner = Actor.customer(orders.get(order_id).customer_id)
    dispatch(CancelOrder(order_id=order_id, actor=owner, reason=reason))


def saga_of(order_id: uuid.UUID) -> SagaInstance:
    return SagaInstance.objects.get(pk=saga_id_for(order_id))


def advance(order_id: uuid.UUID, *, until_step: str | None = None, runs: int = 60) -> SagaInstance:
    """Run the order's saga in this process until it has finished (or reached `until_step`),
    waiting out retry delays (milliseconds in these tests)."""
    saga_id = saga_id_for(order_id)
    for _ in range(runs):
        saga = SagaInstance.objects.get(pk=saga_id)
        if until_step is not None and saga.current_step == until_step:
            return saga
        result = saga_advance(saga_id=saga_id)
        if result == Advance.FINISHED:
            return SagaInstance.objects.get(pk=saga_id)
        if result == Advance.NOT_DUE:
            due = SagaInstance.objects.get(pk=saga_id).next_attempt_at
            assert due is not None
            time.sleep(max(0.0, (due - timezone.now()).total_seconds()) + 0.002)
    raise AssertionError(f"saga of order {order_id} did not get there in {runs} runs")


def order(order_id: uuid.UUID) -> OrderView:
    return OrderView.objects.get(pk=order_id)


class Stock(NamedTuple):
    on_hand: int
    reserved: int


def stock(product: Product) -> Stock:
    item = StockItem.objects.get(pk=product.pk)
    return Stock(item.on_hand, item.reserved)


def reservation_statuses(order_id: uuid.UUID) -> list[str]:
    return sorted(Reservation.objects.filter(order_id=order_id).values_list("status", flat=True))


def payments(order_id: uuid.UUID) -> list[Payment]:
    return list(Payment.objects.filter(order_id=order_id))


def charges(order_id: uuid.UUID) -> list[SandboxCharge]:
    """What the sandbox "bank" holds for the order's authorizations."""
    ids = Payment.objects.filter(order_id=order_id).values_list(
        "gateway_authorization_id", flat=True
    )
    return list(SandboxCharge.objects.filter(authorization_id__in=list(ids)))


def gateway_requests(operation: str) -> int:
    return SandboxRequest.objects.filter(operation=operation).count()


def ledger_rows(order_id: uuid.UUID) -> int:
    return StockMovement.objects.filter(reference=str(order_id)).count()


def assert_stock_consistent() -> None:
    """inventory's verify_stock: every stock row equals its ledger and its reservations."""
    assert stock_drift() == []


def context_for(saga: SagaInstance, step: str, kind: StepKind = StepKind.ACTION) -> StepContext:
    """What the engine hands a step of `saga` — to run it the way a worker that then died
    (or a duplicate delivery) would."""
    return StepContext(
        saga_id=saga.saga_id,
        saga_type=saga.saga_type,
        correlation_id=saga.correlation_id,
        owner_id=saga.owner_id,
        step=step,
        kind=kind,
        attempt=saga.attempts + 1,
        data=dict(saga.saga_data),
        failure_reason=saga.failure_reason or None,
    )


def run_with_outcome_lost(step: Callable[[StepContext], Any], ctx: StepContext) -> None:
    """Run a step and commit the writes it leaves for its outcome's transaction on their
    own, recording no outcome: what a worker of the release before those writes moved into
    the outcome's transaction left when it died between the two commits (a rolling
    deployment can still meet it). The compensations must undo it all the same."""
    step(ctx)
    if ctx.with_outcome is not None:
        with transaction.atomic():
            ctx.with_outcome()
