"""The Order aggregate: its events, its rules and its lifecycle.

The aggregate is an unmanaged Django model only because django-fsm needs a model class for
its `FSMField` and `@transition` (and `graph_transitions` draws models). It has no table, is
never saved (`save()` raises) and is rebuilt from its events by `eventstore.Repository`.
Nothing here does I/O: prices come in as arguments (the command handler reads the
catalogue), and so does the clock (`at`).

Every state-changing method is a django-fsm transition whose source, target and conditions
come from `TRANSITIONS`, the one table of the lifecycle. The transition guard runs before the
method body, and the body records the event, so an illegal command raises before any event
exists. Self-loops (`add_item` in DRAFT, `authorize_payment` in CONFIRMED, ...) are
transitions too: "lines change only in DRAFT" is the FSM's rule, not an `if`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Self, TypeVar, cast
from uuid import UUID, uuid5

from django.db import models
from django_fsm import FSMField, TransitionNotAllowed, transition

from eventstore.aggregate import Aggregate
from eventstore.events import DomainEvent, from_json_value, to_json_value, upcaster

from .exceptions import (
    ActionForbidden,
    CurrencyMismatch,
    IllegalTransition,
    InvalidNote,
    InvalidQuantity,
    OrderLineNotFound,
    OrderTotalTooLarge,
    PaymentAmountMismatch,
    ProductUnavailable,
    RefundAmountInvalid,
    RefundExceedsRefundable,
    RefundLineInvalid,
    RefundNotRunning,
)

MIN_QUANTITY = 1
MAX_QUANTITY = 999

# Fixed forever: saga ids derived from it are stored in saga_instances.
SAGA_NAMESPACE = UUID("5b0f7d8e-3c1a-4f57-9a55-0d6c2b7e9f14")


def saga_id_for(order_id: UUID) -> UUID:
    """The id of the fulfilment saga of an order: derived, so it needs no storage and a
    second saga for the same order cannot exist."""
    return uuid5(SAGA_NAMESPACE, str(order_id))


class OrderStatus(models.TextChoices):
    # NEW is the blank aggregate before OrderCreated; no stored order is ever NEW.
    NEW = "NEW", "NEW"
    DRAFT = "DRAFT", "DRAFT"
    CONFIRMED = "CONFIRMED", "CONFIRMED"
    PAID = "PAID", "PAID"
    SHIPPED = "SHIPPED", "SHIPPED"
    DELIVERED = "DELIVERED", "DELIVERED"
    CANCELLED = "CANCELLED", "CANCELLED"
    REFUNDED = "REFUNDED", "REFUNDED"


ORDER_STATUSES: tuple[OrderStatus, ...] = tuple(s for s in OrderStatus if s != OrderStatus.NEW)
FINAL_STATUSES = frozenset({OrderStatus.DELIVERED, OrderStatus.CANCELLED, OrderStatus.REFUNDED})


class PaymentStatus(models.TextChoices):
    """Kept apart from the order status: what the order knows about its money."""

    NONE = "NONE", "NONE"
    AUTHORIZED = "AUTHORIZED", "AUTHORIZED"
    CAPTURED = "CAPTURED", "CAPTURED"
    # The order was cancelled before capture: the authorization is released, nothing taken.
    VOIDED = "VOIDED", "VOIDED"
    # Money is owed back (refund, or staff cancel of a PAID order) and not yet returned.
    REFUND_PENDING = "REFUND_PENDING", "REFUND_PENDING"
    # Part of the capture was given back (partial refunds); the rest is still the shop's.
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED", "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED", "REFUNDED"


class ActorKind(models.TextChoices):
    """Who runs a command. An actor's kind is what they are; their role on one order is
    decided against that order (see `actor_role`): staff on their own order are its customer."""

    CUSTOMER = "customer", "customer"
    STAFF = "staff", "staff"
    SAGA = "saga", "saga"


class Refund(models.TextChoices):
    """What a cancellation means for the customer's money (OrderCancelled.refund)."""

    # Nothing was taken; an authorization still held is released (the saga voids it).
    NONE = "none", "none"
    # Taken and owed back: the payments side refunds it and records OrderPaymentRefunded.
    OWED = "owed", "owed"
    # Taken and already given back by whoever cancelled (the saga, after a capture).
    RETURNED = "returned", "returned"


# --- Value objects ---------------------------------------------------------------------


@dataclass(frozen=True)
class ShippingAddress:
    name: str
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str = ""


@dataclass(frozen=True)
class OrderLine:
    product_id: UUID
    sku: str
    name: str
    unit_price: Decimal
    quantity: int

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class RefundLine:
    """Units of one order line given back with a partial refund; `restock` puts them back
    on hand (they came back undamaged), otherwise they stay booked out."""

    product_id: UUID
    quantity: int
    restock: bool = False


class RefundStatus(models.TextChoices):
    REQUESTED = "REQUESTED", "REQUESTED"
    COMPLETED = "COMPLETED", "COMPLETED"
    FAILED = "FAILED", "FAILED"


@dataclass(frozen=True)
class PartialRefund:
    """One partial refund of the order as the order knows it (OrderRefundRequested, then
    OrderRefundCompleted or OrderRefundFailed)."""

    refund_id: UUID
    amount: Decimal
    lines: tuple[RefundLine, ...]
    reason: str
    note: str
    status: RefundStatus
    requested_at: datetime


@dataclass(frozen=True)
class CatalogueItem:
    """What the catalogue says about a product when a line is added (see catalogue.py)."""

    product_id: UUID
    sku: str
    name: str
    unit_price: Decimal
    currency: str
    active: bool = True


# --- Events --------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderCreated(DomainEvent):
    customer_id: UUID
    currency: str
    occurred_at: datetime


@dataclass(frozen=True)
class OrderItemAdded(DomainEvent):
    product_id: UUID
    sku: str
    name: str
    unit_price: Decimal
    quantity: int
    occurred_at: datetime


@dataclass(frozen=True)
class OrderItemQuantityChanged(DomainEvent):
    product_id: UUID
    quantity: int
    occurred_at: datetime


@dataclass(frozen=True)
class OrderItemRemoved(DomainEvent):
    product_id: UUID
    occurred_at: datetime


@dataclass(frozen=True)
class ShippingAddressSet(DomainEvent):
    address: ShippingAddress
    occurred_at: datetime


@dataclass(frozen=True)
class OrderConfirmed(DomainEvent):
    # The saga reads the token from this event to authorize the payment. It is never
    # logged and every read surface (API, admin) redacts it: see
    # eventstore.events.redacted_event_data.
    redacted_fields: ClassVar[frozenset[str]] = frozenset({"payment_token"})

    payment_token: str
    total_amount: Decimal
    currency: str
    occurred_at: datetime


@dataclass(frozen=True)
class OrderPaymentAuthorized(DomainEvent):
    payment_id: UUID
    amount: Decimal
    occurred_at: datetime


@dataclass(frozen=True)
class OrderPaid(DomainEvent):
    payment_id: UUID
    amount: Decimal
    occurred_at: datetime


@dataclass(frozen=True)
class OrderShipped(DomainEvent):
    carrier: str
    tracking_number: str
    occurred_at: datetime


@dataclass(frozen=True)
class OrderDelivered(DomainEvent):
    occurred_at: datetime


@dataclass(frozen=True)
class OrderCancelled(DomainEvent):
    """Who cancelled (their role on the order: its customer, staff, the saga) and what
    became of the money. Version 1 recorded flags instead (see the upcaster below)."""

    schema_version: ClassVar[int] = 2

    reason: str
    cancelled_by: ActorKind
    refund: Refund
    # What is owed or was returned to the customer: the total unless refund is NONE.
    refund_amount: Decimal
    occurred_at: datetime


@upcaster("OrderCancelled", 1)
def order_cancelled_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 carried `by_staff`, `refund_pending`, `refunded` (and `refund_amount`, kept).
    Only the saga ever returned money itself (`refunded`, by_staff or not: it used to pass
    by_staff=True to reach the PAID path); otherwise by_staff was staff acting on someone
    else's order. Version 1 did not tell the order's customer from the saga cancelling
    without money involved (payment declined, out of stock): those read as the customer."""
    by_staff = data.pop("by_staff")
    refund_pending = data.pop("refund_pending")
    refunded = data.pop("refunded")
    if refunded:
        data["cancelled_by"], data["refund"] = ActorKind.SAGA.value, Refund.RETURNED.value
    else:
        data["cancelled_by"] = (ActorKind.STAFF if by_staff else ActorKind.CUSTOMER).value
        data["refund"] = (Refund.OWED if refund_pending else Refund.NONE).value
    return data


@dataclass(frozen=True)
class OrderRefunded(DomainEvent):
    reason: str
    amount: Decimal
    occurred_at: datetime


@dataclass(frozen=True)
class OrderPaymentRefunded(DomainEvent):
    payment_id: UUID
    amount: Decimal
    occurred_at: datetime


@dataclass(frozen=True)
class OrderRefundRequested(DomainEvent):
    """Staff asked to give back part of the capture: `amount`, for `lines` (empty for a
    refund by amount). The amount is held against the refundable money until the refund
    saga records OrderRefundCompleted or OrderRefundFailed."""

    refund_id: UUID
    amount: Decimal
    lines: tuple[RefundLine, ...]
    reason: str
    note: str
    occurred_at: datetime


@dataclass(frozen=True)
class OrderRefundCompleted(DomainEvent):
    refund_id: UUID
    payment_id: UUID
    amount: Decimal
    occurred_at: datetime


@dataclass(frozen=True)
class OrderRefundFailed(DomainEvent):
    """The gateway never gave the money back (declined, or unreachable until the saga gave
    up and reconciled): the amount is refundable again and no line counts as returned."""

    refund_id: UUID
    reason: str
    occurred_at: datetime


@dataclass(frozen=True)
class OrderNoteAdded(DomainEvent):
    """An internal note by staff (`author` as event metadata names actors, `author_name`
    as they were called then). Staff only: every customer read surface leaves it out (see
    INTERNAL_EVENT_TYPES), and it changes nothing a customer sees."""

    author: str
    author_name: str
    text: str
    occurred_at: datetime


# Events that exist for staff only: never shown to a customer (events API, feeds).
INTERNAL_EVENT_TYPES: frozenset[str] = frozenset({"OrderNoteAdded"})

ORDER_EVENT_TYPES: frozenset[str] = frozenset(
    cls.event_type
    for cls in (
        OrderCreated,
        OrderItemAdded,
        OrderItemQuantityChanged,
        OrderItemRemoved,
        ShippingAddressSet,
        OrderConfirmed,
        OrderPaymentAuthorized,
        OrderPaid,
        OrderShipped,
        OrderDelivered,
        OrderCancelled,
        OrderRefunded,
        OrderPaymentRefunded,
        OrderRefundRequested,
        OrderRefundCompleted,
        OrderRefundFailed,
        OrderNoteAdded,
    )
)

# --- Conditions (named: an illegal-transition answer lists the unmet ones) ------------


def has_lines(order: Order) -> bool:
    return bool(order.lines)


def has_shipping_address(order: Order) -> bool:
    return order.shipping_address is not None


def payment_not_authorized(order: Order) -> bool:
    return order.payment_status == PaymentStatus.NONE


def payment_authorized(order: Order) -> bool:
    return order.payment_status == PaymentStatus.AUTHORIZED


def refund_pending(order: Order) -> bool:
    return order.payment_status == PaymentStatus.REFUND_PENDING


def refund_to_record(order: Order) -> bool:
    """A refund is owed, or the order was cancelled before it was PAID (its payment reads
    VOIDED) while a capture had already gone through, which the saga then refunded."""
    return order.payment_status in (PaymentStatus.REFUND_PENDING, PaymentStatus.VOIDED)


def no_refund_running(order: Order) -> bool:
    """No partial refund is still on its way: a full refund takes what is left only once
    every earlier refund has settled (completed or failed)."""
    return not order.refunds_running()


def money_left(order: Order) -> bool:
    return order.refundable_amount > 0


def refund_running(order: Order) -> bool:
    return order.refunds_running()


# --- The transition table: the lifecycle, in one place --------------------------------

S = OrderStatus


@dataclass(frozen=True, kw_only=True)
class Actor:
    """Who acts and what they may do: the identity and the model permissions they hold
    (`app_label.codename`, as `User.get_all_permissions()` names them). Customers hold none
    that matter; the saga is its own actor and needs none."""

    kind: ActorKind
    user_id: UUID | None = None
    permissions: frozenset[str] = frozenset()

    @classmethod
    def customer(cls, user_id: UUID) -> Actor:
        return cls(kind=ActorKind.CUSTOMER, user_id=user_id)

    @classmethod
    def staff(cls, user_id: UUID, permissions: Iterable[str] = ()) -> Actor:
        return cls(kind=ActorKind.STAFF, user_id=user_id, permissions=frozenset(permissions))

    def __str__(self) -> str:
        """As event metadata names the actor: `customer:<id>`, `staff:<id>`, `saga`."""
        return self.kind.value if self.user_id is None else f"{self.kind.value}:{self.user_id}"


SAGA = Actor(kind=ActorKind.SAGA)


@dataclass(frozen=True)
class TransitionRule:
    method: str
    sources: tuple[OrderStatus, ...]
    # None: the status stays what it was (a guarded self-loop).
    target: OrderStatus | None
    events: tuple[str, ...]
    conditions: tuple[Callable[[Order], bool], ...] = ()
    # Who may run it: the order's own customer, staff (on anyone's order, holding
    # `permission`), the saga. Decided by `authorize` against the loaded order.
    by: frozenset[ActorKind] = frozenset({ActorKind.CUSTOMER})
    # What staff need for it (the admin's buttons check it too, via django-fsm).
    permission: str | None = None


# What staff need to change someone else's DRAFT order (lines, address, confirm).
CHANGE_ORDER = "orders.change_order"


def _draft_change(
    method: str,
    events: tuple[str, ...],
    target: OrderStatus | None = None,
    conditions: tuple[Callable[[Order], bool], ...] = (),
) -> TransitionRule:
    """A change to a DRAFT order: by its customer, or by staff holding orders.change_order."""
    return TransitionRule(
        method,
        (S.DRAFT,),
        target,
        events,
        conditions,
        by=frozenset({ActorKind.CUSTOMER, ActorKind.STAFF}),
        permission=CHANGE_ORDER,
    )


TRANSITIONS: tuple[TransitionRule, ...] = (
    TransitionRule("create", (S.NEW,), S.DRAFT, ("OrderCreated", "OrderItemAdded")),
    _draft_change("add_item", ("OrderItemAdded", "OrderItemQuantityChanged")),
    _draft_change("change_item_quantity", ("OrderItemQuantityChanged",)),
    _draft_change("remove_item", ("OrderItemRemoved",)),
    _draft_change("set_shipping_address", ("ShippingAddressSet",)),
    _draft_change("confirm", ("OrderConfirmed",), S.CONFIRMED, (has_lines, has_shipping_address)),
    TransitionRule(
        "authorize_payment",
        (S.CONFIRMED,),
        None,
        ("OrderPaymentAuthorized",),
        conditions=(payment_not_authorized,),
        by=frozenset({ActorKind.SAGA}),
    ),
    TransitionRule(
        "mark_paid",
        (S.CONFIRMED,),
        S.PAID,
        ("OrderPaid",),
        conditions=(payment_authorized,),
        by=frozenset({ActorKind.SAGA}),
    ),
    TransitionRule(
        "ship",
        (S.PAID,),
        S.SHIPPED,
        ("OrderShipped",),
        by=frozenset({ActorKind.STAFF}),
        permission="orders.ship_order",
    ),
    TransitionRule(
        "deliver",
        (S.SHIPPED,),
        S.DELIVERED,
        ("OrderDelivered",),
        by=frozenset({ActorKind.STAFF}),
        permission="orders.deliver_order",
    ),
    TransitionRule(
        "cancel",
        (S.DRAFT, S.CONFIRMED),
        S.CANCELLED,
        ("OrderCancelled",),
        by=frozenset({ActorKind.CUSTOMER, ActorKind.STAFF, ActorKind.SAGA}),
        permission="orders.cancel_order",
    ),
    TransitionRule(
        "cancel_with_refund",
        (S.PAID,),
        S.CANCELLED,
        ("OrderCancelled",),
        conditions=(no_refund_running,),
        by=frozenset({ActorKind.STAFF, ActorKind.SAGA}),
        permission="orders.refund_order",
    ),
    TransitionRule(
        "refund",
        (S.SHIPPED, S.DELIVERED),
        S.REFUNDED,
        ("OrderRefunded",),
        conditions=(no_refund_running, money_left),
        by=frozenset({ActorKind.STAFF}),
        permission="orders.refund_order",
    ),
    # Partial refunds: the status stays; only the money (and returned lines) change.
    TransitionRule(
        "refund_part",
        (S.PAID, S.SHIPPED, S.DELIVERED),
        None,
        ("OrderRefundRequested",),
        by=frozenset({ActorKind.STAFF}),
        permission="orders.refund_order",
    ),
    TransitionRule(
        "complete_part_refund",
        (S.PAID, S.SHIPPED, S.DELIVERED),
        None,
        ("OrderRefundCompleted",),
        conditions=(refund_running,),
        by=frozenset({ActorKind.SAGA}),
    ),
    TransitionRule(
        "fail_part_refund",
        (S.PAID, S.SHIPPED, S.DELIVERED),
        None,
        ("OrderRefundFailed",),
        conditions=(refund_running,),
        by=frozenset({ActorKind.SAGA}),
    ),
    TransitionRule(
        "record_refund",
        (S.CANCELLED, S.REFUNDED),
        None,
        ("OrderPaymentRefunded",),
        conditions=(refund_to_record,),
        by=frozenset({ActorKind.SAGA}),
    ),
)

# Not a transition (no FSM edge, not in allowed_transitions): a note leaves the status as it
# is, in every status. Only `authorize` reads it, like the rules above.
ADD_NOTE = TransitionRule(
    "add_note",
    ORDER_STATUSES,
    None,
    ("OrderNoteAdded",),
    by=frozenset({ActorKind.STAFF}),
    permission="orders.add_order_note",
)

RULES: dict[str, TransitionRule] = {rule.method: rule for rule in (*TRANSITIONS, ADD_NOTE)}

# The status each event leaves the order in, derived from the table.
STATUS_AFTER: dict[str, OrderStatus] = {
    rule.events[0]: rule.target for rule in TRANSITIONS if rule.target is not None
}

F = TypeVar("F", bound=Callable[..., Any])


def actor_role(actor: Actor, customer_id: UUID | None) -> ActorKind | None:
    """The role `actor` plays on the order of `customer_id`: the saga is the saga; whoever
    owns the order is its customer (staff gain no powers over their own orders); other
    staff are staff; a customer has no role on someone else's order (None)."""
    if actor.kind == ActorKind.SAGA:
        return ActorKind.SAGA
    if actor.user_id is not None and actor.user_id == customer_id:
        return ActorKind.CUSTOMER
    if actor.kind == ActorKind.STAFF:
        return ActorKind.STAFF
    return None


def authorize(actor: Actor, method: str, *, customer_id: UUID | None) -> None:
    """Raise ActionForbidden unless `actor` may run the transition `method` on the order of
    `customer_id`, as the command handler loaded it. Legality from the status is the
    transition's own guard; this decides only who."""
    rule = RULES[method]
    role = actor_role(actor, customer_id)
    if role is None or role not in rule.by:
        raise ActionForbidden(transition=method, actor=str(actor))
    if role == ActorKind.STAFF and rule.permission and rule.permission not in actor.permissions:
        raise ActionForbidden(
            transition=method, actor=str(actor), required_permission=rule.permission
        )


def may(actor: Actor, method: str, *, customer_id: UUID | None) -> bool:
    """Whether `authorize` lets `actor` run `method` on the order of `customer_id`."""
    try:
        authorize(actor, method, customer_id=customer_id)
    except ActionForbidden:
        return False
    return True


def _allowed_from(order: Order) -> list[str]:
    return sorted(
        t.name
        for t in order.get_available_status_transitions()  # type: ignore[attr-defined]
    )


def _lifecycle(method: str) -> Callable[[F], F]:
    """Make a method the transition `TRANSITIONS` describes, and turn django-fsm's
    TransitionNotAllowed into IllegalTransition naming the status and what is allowed."""
    rule = RULES[method]

    def decorate(fn: F) -> F:
        guarded: Any = fn
        for source in rule.sources:
            guarded = transition(
                field="status",
                source=source.value,
                target=(rule.target or source).value,
                conditions=cast(list[Callable[[models.Model], bool]], list(rule.conditions)),
                permission=rule.permission,
            )(guarded)

        @functools.wraps(guarded)
        def run(order: Order, *args: Any, **kwargs: Any) -> Any:
            try:
                return guarded(order, *args, **kwargs)
            except TransitionNotAllowed as exc:
                status = OrderStatus(order.status)
                unmet = (
                    [c.__name__ for c in rule.conditions if not c(order)]
                    if status in rule.sources
                    else []
                )
                raise IllegalTransition(
                    transition=method,
                    current_status=status.value,
                    allowed_transitions=_allowed_from(order),
                    unmet_conditions=unmet,
                ) from exc

        return cast(F, run)

    return decorate


def _check_quantity(quantity: int) -> None:
    if not MIN_QUANTITY <= quantity <= MAX_QUANTITY:
        raise InvalidQuantity(quantity, MIN_QUANTITY, MAX_QUANTITY)


NOTE_MAX_LENGTH = 2000

# What the read model's numeric(14,2) total (and any sane payment) can hold.
MAX_ORDER_TOTAL = Decimal("999999999999.99")


# --- The aggregate ---------------------------------------------------------------------


class Order(Aggregate, models.Model):
    aggregate_type: ClassVar[str] = "Order"
    # 2: partial refunds (captured and refunded amounts, the refunds) joined the state.
    snapshot_schema_version: ClassVar[int] = 2

    id = models.UUIDField(primary_key=True)
    # protected=False: replaying events sets the status directly in apply().
    status = FSMField(default=OrderStatus.NEW, choices=OrderStatus.choices, protected=False)

    # Plain attributes (not columns): set by blank() and apply().
    customer_id: UUID | None
    currency: str
    lines: dict[UUID, OrderLine]
    shipping_address: ShippingAddress | None
    payment_status: PaymentStatus
    payment_id: UUID | None
    cancellation_reason: str
    refund_reason: str
    carrier: str
    tracking_number: str
    # What OrderPaid took, what came back so far, and every partial refund by id.
    captured_amount: Decimal
    refunded_amount: Decimal
    refunds: dict[UUID, PartialRefund]
    created_at: datetime | None
    updated_at: datetime | None
    confirmed_at: datetime | None
    paid_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    cancelled_at: datetime | None
    refunded_at: datetime | None

    class Meta:
        managed = False
        verbose_name = "order"
        # Transition permissions: the admin's buttons and the support group use them.
        permissions = [
            ("ship_order", "Can ship orders"),
            ("deliver_order", "Can mark orders delivered"),
            ("cancel_order", "Can cancel orders"),
            ("refund_order", "Can refund orders (and cancel paid ones)"),
            ("add_order_note", "Can add internal notes to orders"),
            ("resend_order_email", "Can resend an order's e-mails to its customer"),
        ]

    def __str__(self) -> str:
        return f"Order {self.id} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("Order is event-sourced: save it with eventstore Repository(Order).")

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("Order is event-sourced: events are never deleted.")

    @classmethod
    def blank(cls, aggregate_id: UUID) -> Self:
        order = super().blank(aggregate_id)
        order.customer_id = None
        order.currency = ""
        order.lines = {}
        order.shipping_address = None
        order.payment_status = PaymentStatus.NONE
        order.payment_id = None
        order.cancellation_reason = ""
        order.refund_reason = ""
        order.carrier = ""
        order.tracking_number = ""
        order.captured_amount = Decimal("0")
        order.refunded_amount = Decimal("0")
        order.refunds = {}
        for name in ORDER_TIMESTAMPS:
            setattr(order, name, None)
        return order

    # --- derived state

    @property
    def total_amount(self) -> Decimal:
        return sum((line.line_total for line in self.lines.values()), Decimal("0"))

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines.values())

    def allowed_transitions(self) -> list[str]:
        return _allowed_from(self)

    def refunds_running(self) -> bool:
        return any(r.status == RefundStatus.REQUESTED for r in self.refunds.values())

    @property
    def refund_requested_amount(self) -> Decimal:
        """Held by partial refunds still on their way."""
        return sum(
            (r.amount for r in self.refunds.values() if r.status == RefundStatus.REQUESTED),
            Decimal("0"),
        )

    @property
    def refundable_amount(self) -> Decimal:
        """What a refund may still ask for: the capture minus what came back and what running
        refunds hold; nothing once the whole of it is owed back (a full refund or the
        cancellation of a PAID order)."""
        if self.payment_status not in (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED):
            return Decimal("0")
        left = self.captured_amount - self.refunded_amount - self.refund_requested_amount
        return max(left, Decimal("0"))

    def returned_quantity(self, product_id: UUID) -> int:
        """Units of the line given back by partial refunds (completed or running)."""
        return sum(
            line.quantity
            for refund in self.refunds.values()
            if refund.status != RefundStatus.FAILED
            for line in refund.lines
            if line.product_id == product_id
        )

    # --- commands (each a transition from TRANSITIONS)

    @_lifecycle("create")
    def create(
        self,
        *,
        customer_id: UUID,
        currency: str,
        at: datetime,
        items: Sequence[tuple[CatalogueItem, int]] = (),
    ) -> None:
        self.record(OrderCreated(customer_id=customer_id, currency=currency, occurred_at=at))
        for item, quantity in items:
            self._add_line(item, quantity, at)

    @_lifecycle("add_item")
    def add_item(self, *, item: CatalogueItem, quantity: int, at: datetime) -> None:
        self._add_line(item, quantity, at)

    @_lifecycle("change_item_quantity")
    def change_item_quantity(self, *, product_id: UUID, quantity: int, at: datetime) -> None:
        line = self._line(product_id)
        _check_quantity(quantity)
        self._check_total(product_id, line.unit_price, quantity)
        self.record(
            OrderItemQuantityChanged(product_id=product_id, quantity=quantity, occurred_at=at)
        )

    @_lifecycle("remove_item")
    def remove_item(self, *, product_id: UUID, at: datetime) -> None:
        self._line(product_id)
        self.record(OrderItemRemoved(product_id=product_id, occurred_at=at))

    @_lifecycle("set_shipping_address")
    def set_shipping_address(self, *, address: ShippingAddress, at: datetime) -> None:
        self.record(ShippingAddressSet(address=address, occurred_at=at))

    @_lifecycle("confirm")
    def confirm(self, *, payment_token: str, at: datetime) -> None:
        self.record(
            OrderConfirmed(
                payment_token=payment_token,
                total_amount=self.total_amount,
                currency=self.currency,
                occurred_at=at,
            )
        )

    @_lifecycle("authorize_payment")
    def authorize_payment(self, *, payment_id: UUID, amount: Decimal, at: datetime) -> None:
        self._check_amount(amount)
        self.record(OrderPaymentAuthorized(payment_id=payment_id, amount=amount, occurred_at=at))

    @_lifecycle("mark_paid")
    def mark_paid(self, *, payment_id: UUID, at: datetime) -> None:
        self.record(OrderPaid(payment_id=payment_id, amount=self.total_amount, occurred_at=at))

    @_lifecycle("ship")
    def ship(self, *, carrier: str, tracking_number: str, at: datetime) -> None:
        self.record(OrderShipped(carrier=carrier, tracking_number=tracking_number, occurred_at=at))

    @_lifecycle("deliver")
    def deliver(self, *, at: datetime) -> None:
        self.record(OrderDelivered(occurred_at=at))

    def cancellation_for(self, actor: Actor) -> TransitionRule:
        """What cancelling this order means for `actor`, from its current status: the one
        rule the command handler (hence the API, the admin and the saga) goes through. A PAID
        order is cancelled with its money owed back (`cancel_with_refund`: staff holding
        orders.refund_order, or the saga); anything else takes `cancel` (staff need
        orders.cancel_order), which is illegal from PAID on for whoever else asks (its
        customer: 409)."""
        with_refund = RULES["cancel_with_refund"]
        role = actor_role(actor, self.customer_id)
        if self.status == OrderStatus.PAID and role in with_refund.by:
            return with_refund
        return RULES["cancel"]

    def cancel_as(self, actor: Actor, *, reason: str, at: datetime, refunded: bool = False) -> None:
        """Cancel the way `cancellation_for(actor)` says, once `actor` may. `refunded` is for
        the saga, which gives back a capture itself before it cancels."""
        method = self.cancellation_for(actor).method
        authorize(actor, method, customer_id=self.customer_id)
        # authorize let the actor through, so they have a role on this order.
        role = cast(ActorKind, actor_role(actor, self.customer_id))
        if method == "cancel_with_refund":
            self.cancel_with_refund(reason=reason, by=role, refunded=refunded, at=at)
        else:
            self.cancel(reason=reason, by=role, refunded=refunded, at=at)

    @_lifecycle("cancel")
    def cancel(self, *, reason: str, by: ActorKind, at: datetime, refunded: bool = False) -> None:
        # Before PAID nothing is owed: an authorization is released. `refunded`: the saga has
        # already given back money captured before PAID was recorded (a failed mark_paid).
        self._record_cancelled(reason, by, Refund.RETURNED if refunded else Refund.NONE, at)

    @_lifecycle("cancel_with_refund")
    def cancel_with_refund(
        self, *, reason: str, by: ActorKind, at: datetime, refunded: bool = False
    ) -> None:
        # A PAID order owes its money back, unless the caller (the saga) already returned it.
        self._record_cancelled(reason, by, Refund.RETURNED if refunded else Refund.OWED, at)

    def _record_cancelled(self, reason: str, by: ActorKind, refund: Refund, at: datetime) -> None:
        if refund == Refund.NONE:
            amount = Decimal("0")
        elif refund == Refund.OWED:
            # A PAID order: its capture, less what partial refunds gave back already.
            amount = self.captured_amount - self.refunded_amount
        else:
            amount = self.total_amount
        self.record(
            OrderCancelled(
                reason=reason, cancelled_by=by, refund=refund, refund_amount=amount, occurred_at=at
            )
        )

    @_lifecycle("refund")
    def refund(self, *, reason: str, at: datetime) -> None:
        # What partial refunds gave back already is not owed again.
        owed = self.captured_amount - self.refunded_amount
        self.record(OrderRefunded(reason=reason, amount=owed, occurred_at=at))

    @_lifecycle("refund_part")
    def refund_part(
        self,
        *,
        refund_id: UUID,
        amount: Decimal | None,
        lines: Sequence[RefundLine],
        reason: str,
        note: str,
        at: datetime,
    ) -> None:
        """Give back `amount`, or the price of `lines` (exactly one of the two), within what
        is still refundable; each line at most the units bought and not yet returned."""
        if (amount is None) == (not lines):
            raise RefundAmountInvalid("Give either amount or lines, not both (nor neither).")
        if lines:
            amount = self._lines_value(lines)
        assert amount is not None
        if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
            raise RefundAmountInvalid(
                f"A refund is a positive amount with at most two decimals; got {amount}."
            )
        refundable = self.refundable_amount
        if amount > refundable:
            raise RefundExceedsRefundable(
                requested=amount, refundable_amount=refundable, currency=self.currency
            )
        self.record(
            OrderRefundRequested(
                refund_id=refund_id,
                amount=amount,
                lines=tuple(lines),
                reason=reason,
                note=note,
                occurred_at=at,
            )
        )

    def _running_refund(self, refund_id: UUID) -> PartialRefund:
        refund = self.refunds.get(refund_id)
        if refund is None or refund.status != RefundStatus.REQUESTED:
            raise RefundNotRunning(
                refund_id=refund_id, status=None if refund is None else refund.status.value
            )
        return refund

    def _lines_value(self, lines: Sequence[RefundLine]) -> Decimal:
        seen: set[UUID] = set()
        total = Decimal("0")
        for index, line in enumerate(lines):
            field_prefix = f"lines.{index}"
            bought = self.lines.get(line.product_id)
            if bought is None:
                raise RefundLineInvalid(
                    f"{field_prefix}.product_id",
                    f"Product {line.product_id} is not on this order.",
                )
            if line.product_id in seen:
                raise RefundLineInvalid(
                    f"{field_prefix}.product_id", "Each product may appear once."
                )
            seen.add(line.product_id)
            left = bought.quantity - self.returned_quantity(line.product_id)
            if not 1 <= line.quantity <= left:
                raise RefundLineInvalid(
                    f"{field_prefix}.quantity",
                    f"{line.quantity} units cannot be returned: {bought.quantity} bought, "
                    f"{left} not returned yet.",
                )
            total += bought.unit_price * line.quantity
        return total

    @_lifecycle("complete_part_refund")
    def complete_part_refund(
        self, *, refund_id: UUID, payment_id: UUID, amount: Decimal, at: datetime
    ) -> None:
        self._running_refund(refund_id)
        self.record(
            OrderRefundCompleted(
                refund_id=refund_id, payment_id=payment_id, amount=amount, occurred_at=at
            )
        )

    @_lifecycle("fail_part_refund")
    def fail_part_refund(self, *, refund_id: UUID, reason: str, at: datetime) -> None:
        self._running_refund(refund_id)
        self.record(OrderRefundFailed(refund_id=refund_id, reason=reason, occurred_at=at))

    @_lifecycle("record_refund")
    def record_refund(self, *, payment_id: UUID, amount: Decimal, at: datetime) -> None:
        self._check_amount(amount)
        self.record(OrderPaymentRefunded(payment_id=payment_id, amount=amount, occurred_at=at))

    def add_note(self, *, author: Actor, author_name: str, text: str, at: datetime) -> None:
        """Record an internal note. Not a lifecycle transition: any stored order takes one."""
        if self.status == OrderStatus.NEW:
            raise IllegalTransition(
                transition=ADD_NOTE.method,
                current_status=OrderStatus.NEW.value,
                allowed_transitions=[],
                unmet_conditions=[],
            )
        cleaned = text.strip()
        if not cleaned or len(cleaned) > NOTE_MAX_LENGTH:
            raise InvalidNote(NOTE_MAX_LENGTH)
        self.record(
            OrderNoteAdded(
                author=str(author), author_name=author_name, text=cleaned, occurred_at=at
            )
        )

    # --- rules shared by commands

    def _line(self, product_id: UUID) -> OrderLine:
        try:
            return self.lines[product_id]
        except KeyError:
            raise OrderLineNotFound(self.id, product_id) from None

    def _add_line(self, item: CatalogueItem, quantity: int, at: datetime) -> None:
        _check_quantity(quantity)
        if not item.active:
            raise ProductUnavailable(item.product_id)
        if item.currency != self.currency:
            raise CurrencyMismatch(item.product_id, item.currency, self.currency)
        existing = self.lines.get(item.product_id)
        if existing is not None:
            # A product appears once; adding it again raises the quantity at the price
            # the line was first added with.
            total = existing.quantity + quantity
            _check_quantity(total)
            self._check_total(item.product_id, existing.unit_price, total)
            self.record(
                OrderItemQuantityChanged(product_id=item.product_id, quantity=total, occurred_at=at)
            )
            return
        self._check_total(item.product_id, item.unit_price, quantity)
        self.record(
            OrderItemAdded(
                product_id=item.product_id,
                sku=item.sku,
                name=item.name,
                unit_price=item.unit_price,
                quantity=quantity,
                occurred_at=at,
            )
        )

    def _check_total(self, product_id: UUID, unit_price: Decimal, quantity: int) -> None:
        """The total with `product_id`'s line at `quantity` must fit MAX_ORDER_TOTAL."""
        others = sum(
            (line.line_total for pid, line in self.lines.items() if pid != product_id),
            Decimal("0"),
        )
        total = others + unit_price * quantity
        if total > MAX_ORDER_TOTAL:
            raise OrderTotalTooLarge(total, MAX_ORDER_TOTAL)

    def _check_amount(self, amount: Decimal) -> None:
        if amount != self.total_amount:
            raise PaymentAmountMismatch(amount, self.total_amount, self.currency)

    # --- state changes: one branch per event, no checks (the event already happened)

    def apply(self, event: DomainEvent) -> None:
        after = STATUS_AFTER.get(event.event_type)
        if after is not None:
            self.status = after.value
        at: datetime = event.occurred_at  # type: ignore[attr-defined]
        if event.event_type in INTERNAL_EVENT_TYPES:
            # Nothing a customer sees changes, not even updated_at (it would tell them when
            # staff wrote about their order). The stream version still moves on.
            return
        self.updated_at = at
        match event:
            case OrderCreated():
                self.customer_id = event.customer_id
                self.currency = event.currency
                self.created_at = at
            case OrderItemAdded():
                self.lines[event.product_id] = OrderLine(
                    product_id=event.product_id,
                    sku=event.sku,
                    name=event.name,
                    unit_price=event.unit_price,
                    quantity=event.quantity,
                )
            case OrderItemQuantityChanged():
                line = self.lines[event.product_id]
                self.lines[event.product_id] = OrderLine(
                    product_id=line.product_id,
                    sku=line.sku,
                    name=line.name,
                    unit_price=line.unit_price,
                    quantity=event.quantity,
                )
            case OrderItemRemoved():
                del self.lines[event.product_id]
            case ShippingAddressSet():
                self.shipping_address = event.address
            case OrderConfirmed():
                self.confirmed_at = at
            case OrderPaymentAuthorized():
                self.payment_status = PaymentStatus.AUTHORIZED
                self.payment_id = event.payment_id
            case OrderPaid():
                self.payment_status = PaymentStatus.CAPTURED
                self.payment_id = event.payment_id
                self.captured_amount = event.amount
                self.paid_at = at
            case OrderShipped():
                self.carrier = event.carrier
                self.tracking_number = event.tracking_number
                self.shipped_at = at
            case OrderDelivered():
                self.delivered_at = at
            case OrderCancelled():
                self.cancellation_reason = event.reason
                self.cancelled_at = at
                if event.refund == Refund.RETURNED:
                    self.payment_status = PaymentStatus.REFUNDED
                elif event.refund == Refund.OWED:
                    self.payment_status = PaymentStatus.REFUND_PENDING
                elif self.payment_status == PaymentStatus.AUTHORIZED:
                    # Cancelling before capture releases the hold (the saga voids it).
                    self.payment_status = PaymentStatus.VOIDED
            case OrderRefunded():
                self.refund_reason = event.reason
                self.refunded_at = at
                self.payment_status = PaymentStatus.REFUND_PENDING
            case OrderPaymentRefunded():
                self.payment_status = PaymentStatus.REFUNDED
                # The payment's whole refunded total (partial refunds included).
                self.refunded_amount = max(self.refunded_amount, event.amount)
            case OrderRefundRequested():
                self.refunds[event.refund_id] = PartialRefund(
                    refund_id=event.refund_id,
                    amount=event.amount,
                    lines=event.lines,
                    reason=event.reason,
                    note=event.note,
                    status=RefundStatus.REQUESTED,
                    requested_at=at,
                )
            case OrderRefundCompleted():
                self._settle(event.refund_id, RefundStatus.COMPLETED)
                self.refunded_amount += event.amount
                self.refund_reason = self.refunds[event.refund_id].reason
                self.payment_status = (
                    PaymentStatus.REFUNDED
                    if self.refunded_amount >= self.captured_amount
                    else PaymentStatus.PARTIALLY_REFUNDED
                )
            case OrderRefundFailed():
                self._settle(event.refund_id, RefundStatus.FAILED)
            case _:
                raise TypeError(f"Order cannot apply {event.event_type}")

    def _settle(self, refund_id: UUID, status: RefundStatus) -> None:
        refund = self.refunds[refund_id]
        self.refunds[refund_id] = PartialRefund(
            refund_id=refund.refund_id,
            amount=refund.amount,
            lines=refund.lines,
            reason=refund.reason,
            note=refund.note,
            status=status,
            requested_at=refund.requested_at,
        )

    # --- snapshots

    def snapshot_state(self) -> dict[str, Any]:
        state = _SnapshotState(
            status=self.status,
            customer_id=self.customer_id,
            currency=self.currency,
            lines=tuple(self.lines.values()),
            shipping_address=self.shipping_address,
            payment_status=str(self.payment_status),
            payment_id=self.payment_id,
            cancellation_reason=self.cancellation_reason,
            refund_reason=self.refund_reason,
            carrier=self.carrier,
            tracking_number=self.tracking_number,
            timestamps={name: getattr(self, name) for name in ORDER_TIMESTAMPS},
            captured_amount=self.captured_amount,
            refunded_amount=self.refunded_amount,
            refunds=tuple(self.refunds.values()),
        )
        return cast(dict[str, Any], to_json_value(state))

    def restore_snapshot_state(self, state: dict[str, Any]) -> None:
        restored: _SnapshotState = from_json_value(_SnapshotState, state)
        self.status = restored.status
        self.customer_id = restored.customer_id
        self.currency = restored.currency
        self.lines = {line.product_id: line for line in restored.lines}
        self.shipping_address = restored.shipping_address
        self.payment_status = PaymentStatus(restored.payment_status)
        self.payment_id = restored.payment_id
        self.cancellation_reason = restored.cancellation_reason
        self.refund_reason = restored.refund_reason
        self.carrier = restored.carrier
        self.tracking_number = restored.tracking_number
        for name in ORDER_TIMESTAMPS:
            setattr(self, name, restored.timestamps.get(name))
        self.captured_amount = restored.captured_amount
        self.refunded_amount = restored.refunded_amount
        self.refunds = {refund.refund_id: refund for refund in restored.refunds}


# The order's moments, in life order: the aggregate, the read model and the API name them alike.
ORDER_TIMESTAMPS = (
    "created_at",
    "updated_at",
    "confirmed_at",
    "paid_at",
    "shipped_at",
    "delivered_at",
    "cancelled_at",
    "refunded_at",
)


@dataclass(frozen=True)
class _SnapshotState:
    status: str
    customer_id: UUID | None
    currency: str
    lines: tuple[OrderLine, ...]
    shipping_address: ShippingAddress | None
    payment_status: str
    payment_id: UUID | None
    cancellation_reason: str
    refund_reason: str
    carrier: str
    tracking_number: str
    timestamps: dict[str, datetime | None] = field(default_factory=dict)
    captured_amount: Decimal = Decimal("0")
    refunded_amount: Decimal = Decimal("0")
    refunds: tuple[PartialRefund, ...] = ()


def replay(order_id: UUID, events: Iterable[DomainEvent]) -> Order:
    """Rebuild an order from its events (what the repository does, without storage)."""
    order = Order.blank(order_id)
    for event in events:
        order.apply_event(event)
    return order
