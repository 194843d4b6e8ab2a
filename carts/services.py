"""Cart use cases. Carts live in Redis (see `carts.repository`); products and their
availability come from `inventory`. A Redis failure surfaces as CartStoreUnavailable (503).

Access: a cart created by a signed-in customer is theirs alone; an anonymous cart may be
used by whoever holds its session id, and becomes the customer's when they check it out.
Anyone else gets CartNotFound (404), exactly as for a cart that does not exist. Staff may
read any cart.

Checkout support (the orders/checkout code calls these; see docs/inventory-and-carts.md):

    claim = cart_checkout_claim(session_id=sid, user_id=user.pk)
    if not claim.won:            # another checkout holds it, or it is already done
        ... answer with claim.order_id (claim.completed) or 409 (in progress)
    try:
        ... create and confirm order claim.order_id from claim.lines (one command) ...
        cart_checkout_complete_on_commit(session_id=sid, order_id=claim.order_id)
    except BaseException:
        cart_checkout_release(session_id=sid, order_id=claim.order_id)
        raise
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from django.db import transaction

from commerce_project.errors import InvalidInput
from inventory.exceptions import OutOfStock, ShortLine
from inventory.selectors import ProductSnapshot, product_snapshots

from .exceptions import (
    CartCheckedOut,
    CartCheckoutInProgress,
    CartEmpty,
    CartNotFound,
    CartStoreUnavailable,
)
from .repository import (
    ANONYMOUS,
    ScriptReply,
    StoredCart,
    cart_store_claim,
    cart_store_complete,
    cart_store_create,
    cart_store_delete,
    cart_store_read,
    cart_store_release_claim,
    cart_store_write_line,
)
from .scripts import LineMode, Outcome

logger = logging.getLogger(__name__)

# Order ids derived from a cart: checking out one cart twice names the same order, so
# even a checkout whose claim lapsed (crash after COMMIT) cannot create a second order.
CHECKOUT_NAMESPACE = UUID("6f2b3c1e-8a5d-4c3e-9b7a-2d1f0e9c8b7a")


def _ttl_seconds() -> int:
    return int(settings.CART_TTL.total_seconds())


def _requester(user_id: UUID | None) -> str:
    return str(user_id) if user_id else ANONYMOUS


def _session_id_for(idempotency_token: str) -> str:
    """The session id of the cart that a keyed create makes: the same for every attempt of
    one request, and as unguessable as a random one to anyone without SECRET_KEY."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"cart:{idempotency_token}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def cart_create(*, user_id: UUID | None, idempotency_token: str | None = None) -> StoredCart:
    """A new empty cart, owned by `user_id` or anonymous. With an `idempotency_token` every
    attempt of one request names the same cart, so a retry after a failure finds the cart
    the first attempt made instead of making a second."""
    owner = _requester(user_id)
    ttl = _ttl_seconds()
    if idempotency_token is not None:
        session_id = _session_id_for(idempotency_token)
        cart_store_create(session_id=session_id, owner=owner, ttl_seconds=ttl)
        return cart_get(session_id=session_id, user_id=user_id)
    while True:  # a collision of 256-bit tokens does not happen; NX makes sure of it
        session_id = secrets.token_urlsafe(32)
        if cart_store_create(session_id=session_id, owner=owner, ttl_seconds=ttl):
            return StoredCart(session_id, owner, None, {}, None, ttl)


def cart_get(*, session_id: str, user_id: UUID | None, is_staff: bool = False) -> StoredCart:
    cart = cart_store_read(session_id=session_id)
    if cart is None:
        raise CartNotFound()
    if not is_staff and cart.owner not in (ANONYMOUS, _requester(user_id)):
        raise CartNotFound()
    if cart.checkout and cart.checkout.done:
        raise CartCheckedOut(cart.checkout.order_id)
    return cart


def cart_delete(*, session_id: str, user_id: UUID | None) -> None:
    result = cart_store_delete(session_id=session_id, requester=_requester(user_id))
    _raise_for(result)


def cart_item_add(
    *,
    session_id: str,
    user_id: UUID | None,
    product_id: UUID,
    quantity: int,
    idempotency_token: str | None = None,
) -> StoredCart:
    """Adds `quantity` (1..CART_MAX_LINE_QUANTITY) units to the product's line. With an
    `idempotency_token` the units are added at most once for that token (for as long as
    IDEMPOTENCY_KEY_TTL); a repeat answers with the cart as it is."""
    _check_quantity(quantity, minimum=1)
    return _write_line(
        session_id, user_id, product_id, quantity, mode=LineMode.ADD, token=idempotency_token
    )


def cart_item_set(
    *, session_id: str, user_id: UUID | None, product_id: UUID, quantity: int
) -> StoredCart:
    """Sets the line to `quantity` (0..CART_MAX_LINE_QUANTITY; 0 removes it)."""
    _check_quantity(quantity, minimum=0)
    return _write_line(session_id, user_id, product_id, quantity, mode=LineMode.SET)


def cart_item_remove(*, session_id: str, user_id: UUID | None, product_id: UUID) -> StoredCart:
    """Removes the line; removing a line that is not there is not an error."""
    return _write_line(session_id, user_id, product_id, 0, mode=LineMode.SET)


# --- checkout support


@dataclass(frozen=True)
class CheckoutClaim:
    """`won`: this caller now holds the cart and must complete or release the claim; the
    cart cannot change meanwhile and `lines` is exactly what it held. Otherwise `order_id`
    is the order of the checkout that holds (or, when `completed`, finished) the cart."""

    order_id: UUID
    won: bool
    completed: bool
    lines: dict[UUID, int]


def cart_checkout_order_id(*, session_id: str) -> UUID:
    """The order id a checkout of this cart uses: the same for every attempt."""
    return uuid.uuid5(CHECKOUT_NAMESPACE, session_id)


def cart_checkout_claim(
    *, session_id: str, user_id: UUID, order_id: UUID | None = None
) -> CheckoutClaim:
    """Atomically claims the cart for one checkout (a Redis SET of `cart:{sid}:checkout`,
    inside the same script that checks ownership), hands the cart to `user_id` if it was
    anonymous and returns its lines. Only one of any number of concurrent claims wins.

    Raises CartNotFound (unknown or someone else's), CartEmpty (400), CartStoreUnavailable.
    The claim lapses after CART_CHECKOUT_CLAIM_TTL if its holder dies."""
    chosen = order_id or cart_checkout_order_id(session_id=session_id)
    reply = cart_store_claim(
        session_id=session_id,
        user_id=user_id,
        order_id=chosen,
        claim_ttl_ms=int(settings.CART_CHECKOUT_CLAIM_TTL.total_seconds() * 1000),
        ttl_seconds=_ttl_seconds(),
    )
    match reply.outcome:
        case Outcome.WON:
            return CheckoutClaim(order_id=chosen, won=True, completed=False, lines=reply.lines)
        case Outcome.CLAIMED:
            assert reply.checkout is not None
            holder = reply.checkout
            return CheckoutClaim(
                order_id=holder.order_id, won=False, completed=holder.done, lines={}
            )
        case Outcome.EMPTY:
            raise CartEmpty()
    raise CartNotFound()


def cart_checkout_complete(*, session_id: str, order_id: UUID) -> None:
    """The order is committed: clears the lines and leaves a "done" marker (for
    CART_TTL) so that a repeated checkout of the same cart finds `order_id`."""
    cart_store_complete(session_id=session_id, order_id=order_id, ttl_seconds=_ttl_seconds())


def cart_checkout_complete_on_commit(*, session_id: str, order_id: UUID) -> None:
    """cart_checkout_complete after the surrounding transaction commits (never after a
    rollback). A Redis failure then is logged, not raised: the order stands, and the
    claim lapsing cannot create a second order because the order id is derived."""

    def complete() -> None:
        try:
            cart_checkout_complete(session_id=session_id, order_id=order_id)
        except CartStoreUnavailable:
            logger.error("cart %s not cleared after order %s was committed", session_id, order_id)

    transaction.on_commit(complete)


def cart_checkout_release(*, session_id: str, order_id: UUID) -> bool:
    """Gives up a claim (the checkout failed and nothing was created): the cart can change
    and be checked out again. Only the holder's order id releases it. Never raises for
    Redis trouble (the claim lapses by itself); returns whether a claim was released."""
    try:
        return cart_store_release_claim(session_id=session_id, order_id=order_id)
    except CartStoreUnavailable:
        logger.error("checkout claim of cart %s not released; it lapses by itself", session_id)
        return False


# --- internals


def _check_quantity(quantity: int, *, minimum: int) -> None:
    maximum = int(settings.CART_MAX_LINE_QUANTITY)
    if not minimum <= quantity <= maximum:
        raise InvalidInput(
            f"Quantity must be between {minimum} and {maximum}.",
            errors={"quantity": [f"Must be between {minimum} and {maximum}."]},
        )


def _not_for_sale(product_id: UUID, reason: str) -> InvalidInput:
    return InvalidInput(f"{reason} ({product_id})", errors={"product_id": [reason]})


def _sellable(product_id: UUID) -> ProductSnapshot:
    product = product_snapshots([product_id]).get(product_id)
    if product is None:
        raise _not_for_sale(product_id, "Unknown product.")
    if not product.active:
        raise _not_for_sale(product_id, "This product is not for sale.")
    return product


def _write_line(
    session_id: str,
    user_id: UUID | None,
    product_id: UUID,
    quantity: int,
    *,
    mode: LineMode,
    token: str | None = None,
) -> StoredCart:
    def write(available: int | None, currency: str | None) -> ScriptReply:
        return cart_store_write_line(
            session_id=session_id,
            requester=_requester(user_id),
            product_id=product_id,
            quantity=quantity,
            mode=mode,
            max_lines=int(settings.CART_MAX_LINES),
            max_quantity=int(settings.CART_MAX_LINE_QUANTITY),
            available=available,
            currency=currency,
            ttl_seconds=_ttl_seconds(),
            applied_token=token,
            applied_ttl_seconds=int(settings.IDEMPOTENCY_KEY_TTL.total_seconds()),
        )

    if mode == LineMode.SET and quantity == 0:
        # Any line may go, even one whose product was withdrawn meanwhile.
        reply = write(0, "")
    else:
        # The script checks the product against the catalogue cache itself (one round
        # trip); only a product missing there costs a lookup and a second attempt.
        reply = write(None, None)
        if reply.outcome == Outcome.UNCACHED:
            product = _sellable(product_id)
            reply = write(product.available, product.currency)
        elif reply.outcome == Outcome.INACTIVE:
            raise _not_for_sale(product_id, "This product is not for sale.")
    _raise_for(reply, product_id=product_id, quantity=quantity, mode=mode)
    assert reply.cart is not None
    return reply.cart


def _raise_for(
    reply: ScriptReply,
    *,
    product_id: UUID | None = None,
    quantity: int = 0,
    mode: LineMode = LineMode.SET,
) -> None:
    """Raises what a refusal means; returns on OK."""
    outcome = reply.outcome
    if outcome == Outcome.OK:
        return
    if outcome == Outcome.MISSING:
        raise CartNotFound()
    if outcome == Outcome.CLAIMED:
        assert reply.checkout is not None
        if reply.checkout.done:
            raise CartCheckedOut(reply.checkout.order_id)
        raise CartCheckoutInProgress(reply.checkout.order_id)
    assert product_id is not None
    wanted = reply.current + quantity if mode == LineMode.ADD else quantity
    if outcome == Outcome.CURRENCY:
        raise InvalidInput(
            f"This cart is in {reply.cart_currency}; the product is priced in another currency.",
            errors={"product_id": [f"Not priced in {reply.cart_currency}, the cart's currency."]},
        )
    if outcome == Outcome.LINES:
        limit = settings.CART_MAX_LINES
        raise InvalidInput(
            f"A cart holds at most {limit} different products.",
            errors={"product_id": [f"The cart already has {limit} different products."]},
        )
    if outcome == Outcome.QUANTITY:
        limit = settings.CART_MAX_LINE_QUANTITY
        raise InvalidInput(
            f"The line would hold {wanted} units; at most {limit} are allowed.",
            errors={"quantity": [f"The line would hold {wanted}; at most {limit}."]},
        )
    if outcome == Outcome.SHORT:
        available = reply.available
        raise OutOfStock(
            [ShortLine(product_id, wanted, available)],
            detail=f"Only {available} available of {product_id}; {wanted} requested.",
        )
    raise RuntimeError(f"unexpected cart store answer {outcome!r}")
