"""Checkout: a cart becomes a confirmed order (which starts the fulfilment saga).

One cart yields one order, however often or concurrently it is checked out:
- the cart is claimed atomically in Redis, so one checkout at a time holds it;
- the order id is derived from the cart's session id, so even a checkout that crashed after
  COMMIT but before the cart was cleared names the same order on the next attempt, and is
  answered with it instead of creating another;
- a completed cart remembers its order, so a later repeat is answered with it.

A repeat never changes the order: its payment token, address and expected total are not
used. It is answered honestly instead: the result says the order already existed
(`created=False`; the API answers 200 with `already_checked_out: true` rather than 202),
and a repeat whose `expected_total` differs from that order's total is refused with
CartAlreadyCheckedOut (409), since answering with an order of another total would pass it
off as what the client asked for.

Prices are the catalogue's at checkout time. A client that shows the customer a total may
send it as `expected_total`; if prices moved since, nothing is created and the answer is 409
`price-changed` with the new total. A line that obviously exceeds the available stock (by the
stock cache) is refused at once; otherwise the saga's reservation decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from django.db import DatabaseError

from eventstore.commands import dispatch
from inventory.exceptions import OutOfStock, ShortLine
from inventory.selectors import product_availability
from orders.catalogue import product_infos_get
from orders.commands import LineRequest, PlaceOrder, orders
from orders.domain import Actor, CatalogueItem, ShippingAddress, saga_id_for
from orders.models import OrderView

from .exceptions import CartAlreadyCheckedOut, CartCheckoutInProgress, PriceChanged
from .services import (
    cart_checkout_claim,
    cart_checkout_complete,
    cart_checkout_complete_on_commit,
    cart_checkout_release,
)


@dataclass(frozen=True)
class CheckoutResult:
    order_id: UUID
    saga_id: UUID
    status: str
    total: Decimal
    currency: str
    # False when this call found the cart already checked out and answered with that order
    # (none of its own data was used).
    created: bool


def cart_checkout(
    *,
    session_id: str,
    user_id: UUID,
    payment_token: str,
    shipping_address: ShippingAddress,
    expected_total: Decimal | None = None,
    actor: Actor,
) -> CheckoutResult:
    claim = cart_checkout_claim(session_id=session_id, user_id=user_id)
    if not claim.won:
        if claim.completed:
            return _existing(claim.order_id, expected_total)
        raise CartCheckoutInProgress(claim.order_id)

    order_id = claim.order_id
    try:
        try:
            placed = _place(
                order_id,
                sorted(claim.lines.items(), key=lambda item: str(item[0])),
                user_id=user_id,
                payment_token=payment_token,
                shipping_address=shipping_address,
                expected_total=expected_total,
                actor=actor,
            )
        except Exception:
            # An earlier attempt committed the order but died before clearing the cart: its
            # order is the answer, whatever the cart and the shelf say now. Looked for only
            # when placing fails, as it does then (the order's stream exists): one statement
            # less on every other checkout.
            if not _placed_earlier(order_id):
                raise
            cart_checkout_complete(session_id=session_id, order_id=order_id)
            return _existing(order_id, expected_total)
        # The cart is cleared once the order has committed (or with the caller's
        # transaction, when there is one).
        cart_checkout_complete_on_commit(session_id=session_id, order_id=order_id)
    except BaseException:
        cart_checkout_release(session_id=session_id, order_id=order_id)
        raise
    return placed


def _placed_earlier(order_id: UUID) -> bool:
    """Whether the order exists, asked after placing it failed. A lookup that fails too (the
    database, or a caller's transaction the failure aborted) says no, so that the failure
    that made us ask is the one reported."""
    try:
        return orders.exists(order_id)
    except DatabaseError:
        return False


def _place(
    order_id: UUID,
    lines: list[tuple[UUID, int]],
    *,
    user_id: UUID,
    payment_token: str,
    shipping_address: ShippingAddress,
    expected_total: Decimal | None,
    actor: Actor,
) -> CheckoutResult:
    """Price the lines, check the total and the shelf, and place the order."""
    catalogue = product_infos_get([product_id for product_id, _ in lines])
    total, currency = _priced_total(lines, catalogue)
    if expected_total is not None and expected_total != total:
        raise PriceChanged(total=total, expected_total=expected_total, currency=currency)
    _refuse_obvious_shortage(lines)
    # Priced from the same read as the total just checked. The command is its own
    # transaction (no block around it, which would make it a savepoint: two more round
    # trips).
    dispatch(
        PlaceOrder(
            order_id=order_id,
            actor=actor,
            customer_id=user_id,
            currency=currency,
            lines=tuple(LineRequest(product_id=p, quantity=q) for p, q in lines),
            shipping_address=shipping_address,
            payment_token=payment_token,
            catalogue=catalogue,
        )
    )
    return CheckoutResult(
        order_id=order_id,
        saga_id=saga_id_for(order_id),
        status="CONFIRMED",
        total=total,
        currency=currency,
        created=True,
    )


def _priced_total(
    lines: list[tuple[UUID, int]], infos: dict[UUID, CatalogueItem]
) -> tuple[Decimal, str]:
    total = sum(
        (infos[product_id].unit_price * quantity for product_id, quantity in lines), Decimal(0)
    )
    currency = infos[lines[0][0]].currency
    return total.quantize(Decimal("0.01")), currency


def _refuse_obvious_shortage(lines: list[tuple[UUID, int]]) -> None:
    available = product_availability(product_id for product_id, _ in lines)
    short = [
        ShortLine(product_id=product_id, requested=quantity, available=available.get(product_id, 0))
        for product_id, quantity in lines
        if quantity > available.get(product_id, 0)
    ]
    if short:
        raise OutOfStock(short)


def _existing(order_id: UUID, expected_total: Decimal | None) -> CheckoutResult:
    """The cart's order, created by an earlier checkout."""
    view = OrderView.objects.get(pk=order_id)
    if expected_total is not None and expected_total != view.total_amount:
        raise CartAlreadyCheckedOut(
            order_id=order_id,
            total=view.total_amount,
            expected_total=expected_total,
            currency=view.currency,
        )
    return CheckoutResult(
        order_id=order_id,
        saga_id=saga_id_for(order_id),
        status=view.status,
        total=view.total_amount,
        currency=view.currency,
        created=False,
    )
