"""Order use cases: one command, one handler. Each handler loads the order, decides
whether the command's actor may run the transition on the order as loaded (never on a read
model, which may lag), checks the caller's expected version (If-Match), calls one domain
method and saves, inside the one transaction that `eventstore.commands.dispatch` opens. The
API, the admin and the saga all dispatch these same commands, each naming who acts:

    dispatch(MarkOrderPaid(order_id=order_id, payment_id=payment_id, actor=SAGA))

The actor is required: no caller gets a default identity, and the event metadata's `actor`
comes from it.

Commands the saga repeats (a redelivered step) are no-ops when the order already shows their
effect: RecordPaymentAuthorized and MarkOrderPaid with the same payment, CancelOrder of an
order already cancelled, RecordPaymentRefunded of a refund already recorded.

Every handler returns the saved Order aggregate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection
from django.utils import timezone

from commerce_project.errors import PreconditionFailed
from eventstore.commands import Command, handles
from eventstore.repository import Repository

from .catalogue import product_info_get, product_infos_get
from .domain import (
    Actor,
    CatalogueItem,
    Order,
    OrderStatus,
    PaymentStatus,
    RefundLine,
    RefundStatus,
    ShippingAddress,
    authorize,
)

orders: Repository[Order] = Repository(Order)


def actor_for_user(user: Any) -> Actor:
    """The actor an authenticated user is: staff with the model permissions they hold
    (a superuser holds all), anyone else a customer, whose permissions play no part."""
    if user.is_staff:
        return Actor.staff(user.pk, user.get_all_permissions())
    return Actor.customer(user.pk)


@dataclass(frozen=True, kw_only=True)
class OrderCommand(Command):
    # A stale read by a human client must not be retried past: the reload re-checks this.
    retry_on_conflict = True

    order_id: UUID
    # Who acts and what they may do; the handler decides against the loaded order.
    actor: Actor
    # If-Match: the stream version the caller last saw; None skips the check.
    expected_version: int | None = None

    def metadata_actor(self) -> str:
        return str(self.actor)


@dataclass(frozen=True)
class LineRequest:
    product_id: UUID
    quantity: int


@dataclass(frozen=True, kw_only=True)
class CreateOrder(OrderCommand):
    # A new stream is written at version 0: it conflicts only with an order that exists
    # already, and would conflict again on every retry.
    retry_on_conflict = False

    customer_id: UUID
    # None: the currency of the first line's product, else ORDERS_DEFAULT_CURRENCY.
    currency: str | None = None
    lines: tuple[LineRequest, ...] = ()
    shipping_address: ShippingAddress | None = None


@dataclass(frozen=True, kw_only=True)
class PlaceOrder(CreateOrder):
    """Create and confirm in one command, as a cart's checkout does: one new aggregate, one
    append, one projection pass. `catalogue` holds the products as the caller priced them
    (a checkout compares that total with the customer's expected one), so the order is
    priced from that same read; None reads the catalogue here."""

    payment_token: str = field(repr=False)
    catalogue: Mapping[UUID, CatalogueItem] | None = field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True)
class AddOrderItem(OrderCommand):
    product_id: UUID
    quantity: int


@dataclass(frozen=True, kw_only=True)
class ChangeOrderItemQuantity(OrderCommand):
    product_id: UUID
    quantity: int


@dataclass(frozen=True, kw_only=True)
class RemoveOrderItem(OrderCommand):
    product_id: UUID


@dataclass(frozen=True, kw_only=True)
class SetShippingAddress(OrderCommand):
    address: ShippingAddress


@dataclass(frozen=True, kw_only=True)
class ConfirmOrder(OrderCommand):
    payment_token: str = field(repr=False)
    shipping_address: ShippingAddress | None = None


@dataclass(frozen=True, kw_only=True)
class RecordPaymentAuthorized(OrderCommand):
    payment_id: UUID
    amount: Decimal


@dataclass(frozen=True, kw_only=True)
class MarkOrderPaid(OrderCommand):
    payment_id: UUID


@dataclass(frozen=True, kw_only=True)
class ShipOrder(OrderCommand):
    carrier: str
    tracking_number: str


@dataclass(frozen=True, kw_only=True)
class DeliverOrder(OrderCommand):
    pass


@dataclass(frozen=True, kw_only=True)
class CancelOrder(OrderCommand):
    reason: str
    # What cancelling means is the order's rule (Order.cancellation_for): a PAID order is
    # cancelled with its money owed back, unless `refunded` says the saga already returned it.
    refunded: bool = False


@dataclass(frozen=True, kw_only=True)
class RefundOrder(OrderCommand):
    reason: str


@dataclass(frozen=True, kw_only=True)
class RequestPartialRefund(OrderCommand):
    """Give back `amount`, or the price of `lines` (exactly one), with `refund_id` naming
    this refund (a repeat with the same id is a no-op)."""

    refund_id: UUID
    amount: Decimal | None = None
    lines: tuple[RefundLine, ...] = ()
    reason: str
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class CompletePartialRefund(OrderCommand):
    refund_id: UUID
    payment_id: UUID
    amount: Decimal


@dataclass(frozen=True, kw_only=True)
class FailPartialRefund(OrderCommand):
    refund_id: UUID
    reason: str


@dataclass(frozen=True, kw_only=True)
class RecordPaymentRefunded(OrderCommand):
    payment_id: UUID
    amount: Decimal


@dataclass(frozen=True, kw_only=True)
class AddOrderNote(OrderCommand):
    # Staff only (orders.add_order_note); `author_name` is how the note names its author.
    author_name: str
    text: str


def _load(command: OrderCommand, transition: str | Callable[[Order], str]) -> Order:
    """The order, once `command.actor` may run `transition` on it as loaded (a callable
    picks the transition from the loaded order) and the caller's expected version matches."""
    order = orders.get(command.order_id)
    method = transition if isinstance(transition, str) else transition(order)
    authorize(command.actor, method, customer_id=order.customer_id)
    _check_expected_version(order, command.expected_version)
    return order


def _check_expected_version(order: Order, expected: int | None) -> None:
    if expected is not None and order.version != expected:
        raise PreconditionFailed(
            f"Order {order.id} is at version {order.version}, not {expected}.",
            current_version=order.version,
            expected_version=expected,
        )


def _save(order: Order) -> Order:
    orders.save(order)
    return order


def _new_order(
    command: CreateOrder, at: datetime, catalogue: Mapping[UUID, CatalogueItem] | None = None
) -> Order:
    """The order `command` creates, not saved yet."""
    authorize(command.actor, "create", customer_id=command.customer_id)
    order = Order.blank(command.order_id)
    if command.expected_version not in (None, 0):
        raise PreconditionFailed("A new order has version 0.", expected_version=0)
    product_ids = [line.product_id for line in command.lines]
    infos = catalogue if catalogue is not None else product_infos_get(product_ids)
    items = [(infos[line.product_id], line.quantity) for line in command.lines]
    currency = command.currency or (
        items[0][0].currency if items else settings.ORDERS_DEFAULT_CURRENCY
    )
    order.create(customer_id=command.customer_id, currency=currency, at=at, items=items)
    if command.shipping_address is not None:
        order.set_shipping_address(address=command.shipping_address, at=at)
    return order


@handles(CreateOrder)
def order_create(command: CreateOrder) -> Order:
    return _save(_new_order(command, timezone.now()))


@handles(PlaceOrder)
def order_place(command: PlaceOrder) -> Order:
    now = timezone.now()
    order = _new_order(command, now, command.catalogue)
    authorize(command.actor, "confirm", customer_id=order.customer_id)
    order.confirm(payment_token=command.payment_token, at=now)
    return _save(order)


@handles(AddOrderItem)
def order_item_add(command: AddOrderItem) -> Order:
    order = _load(command, "add_item")
    order.add_item(
        item=product_info_get(command.product_id), quantity=command.quantity, at=timezone.now()
    )
    return _save(order)


@handles(ChangeOrderItemQuantity)
def order_item_quantity_change(command: ChangeOrderItemQuantity) -> Order:
    order = _load(command, "change_item_quantity")
    order.change_item_quantity(
        product_id=command.product_id, quantity=command.quantity, at=timezone.now()
    )
    return _save(order)


@handles(RemoveOrderItem)
def order_item_remove(command: RemoveOrderItem) -> Order:
    order = _load(command, "remove_item")
    order.remove_item(product_id=command.product_id, at=timezone.now())
    return _save(order)


@handles(SetShippingAddress)
def order_shipping_address_set(command: SetShippingAddress) -> Order:
    order = _load(command, "set_shipping_address")
    order.set_shipping_address(address=command.address, at=timezone.now())
    return _save(order)


@handles(ConfirmOrder)
def order_confirm(command: ConfirmOrder) -> Order:
    order = _load(command, "confirm")
    now = timezone.now()
    if command.shipping_address is not None:
        # Both events or neither: one append, one transaction.
        order.set_shipping_address(address=command.shipping_address, at=now)
    order.confirm(payment_token=command.payment_token, at=now)
    return _save(order)


@handles(RecordPaymentAuthorized)
def order_payment_authorized_record(command: RecordPaymentAuthorized) -> Order:
    order = _load(command, "authorize_payment")
    if order.payment_status == PaymentStatus.AUTHORIZED and order.payment_id == command.payment_id:
        return order
    order.authorize_payment(payment_id=command.payment_id, amount=command.amount, at=timezone.now())
    return _save(order)


@handles(MarkOrderPaid)
def order_mark_paid(command: MarkOrderPaid) -> Order:
    order = _load(command, "mark_paid")
    if order.payment_status == PaymentStatus.CAPTURED and order.payment_id == command.payment_id:
        return order
    order.mark_paid(payment_id=command.payment_id, at=timezone.now())
    return _save(order)


@handles(ShipOrder)
def order_ship(command: ShipOrder) -> Order:
    order = _load(command, "ship")
    order.ship(carrier=command.carrier, tracking_number=command.tracking_number, at=timezone.now())
    return _save(order)


@handles(DeliverOrder)
def order_deliver(command: DeliverOrder) -> Order:
    order = _load(command, "deliver")
    order.deliver(at=timezone.now())
    return _save(order)


@handles(CancelOrder)
def order_cancel(command: CancelOrder) -> Order:
    order = _load(command, lambda loaded: loaded.cancellation_for(command.actor).method)
    if order.status == OrderStatus.CANCELLED and order.cancellation_reason == command.reason:
        return order
    order.cancel_as(
        command.actor, reason=command.reason, refunded=command.refunded, at=timezone.now()
    )
    return _save(order)


@handles(RefundOrder)
def order_refund(command: RefundOrder) -> Order:
    order = _load(command, "refund")
    order.refund(reason=command.reason, at=timezone.now())
    return _save(order)


@handles(RecordPaymentRefunded)
def order_payment_refunded_record(command: RecordPaymentRefunded) -> Order:
    order = _load(command, "record_refund")
    if order.payment_status == PaymentStatus.REFUNDED:
        return order
    order.record_refund(payment_id=command.payment_id, amount=command.amount, at=timezone.now())
    return _save(order)


# pg_advisory_xact_lock(classid, objid): the first key keeps these locks apart from others'.
_REFUND_LOCK_CLASS = 0x4F52  # "OR"


def _lock_refunds_of(order_id: UUID) -> None:
    """Serialize refund requests of one order for the rest of the transaction, so each one
    decides on the order as the one before it left it: without this, concurrent requests
    would all load the same version, and all but one would lose the append and retry until
    the bus gives up (a 409 that says nothing about the money). The decision itself is the
    aggregate's, on the stream loaded after the lock, and the append stays version-checked
    against every other writer."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_REFUND_LOCK_CLASS, str(order_id)]
        )


@handles(RequestPartialRefund)
def order_partial_refund_request(command: RequestPartialRefund) -> Order:
    _lock_refunds_of(command.order_id)
    order = _load(command, "refund_part")
    if command.refund_id in order.refunds:
        return order
    order.refund_part(
        refund_id=command.refund_id,
        amount=command.amount,
        lines=command.lines,
        reason=command.reason,
        note=command.note,
        at=timezone.now(),
    )
    return _save(order)


@handles(CompletePartialRefund)
def order_partial_refund_complete(command: CompletePartialRefund) -> Order:
    order = _load(command, "complete_part_refund")
    refund = order.refunds.get(command.refund_id)
    if refund is not None and refund.status == RefundStatus.COMPLETED:
        return order
    order.complete_part_refund(
        refund_id=command.refund_id,
        payment_id=command.payment_id,
        amount=command.amount,
        at=timezone.now(),
    )
    return _save(order)


@handles(FailPartialRefund)
def order_partial_refund_fail(command: FailPartialRefund) -> Order:
    order = _load(command, "fail_part_refund")
    refund = order.refunds.get(command.refund_id)
    if refund is not None and refund.status == RefundStatus.FAILED:
        return order
    order.fail_part_refund(refund_id=command.refund_id, reason=command.reason, at=timezone.now())
    return _save(order)


@handles(AddOrderNote)
def order_note_add(command: AddOrderNote) -> Order:
    order = _load(command, "add_note")
    order.add_note(
        author=command.actor, author_name=command.author_name, text=command.text, at=timezone.now()
    )
    return _save(order)
