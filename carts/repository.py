"""The Redis cart store. Nothing here knows about products or HTTP.

Keys of one cart (session id `sid`, an unguessable `secrets.token_urlsafe(32)`):

    cart:{sid}            hash   product_id -> quantity (the lines)
    cart:{sid}:meta       hash   owner ("anonymous" or the customer's user id), currency
    cart:{sid}:checkout   string "pending:<order_id>" while a checkout holds the cart,
                                 "done:<order_id>" once the order is committed
    cart:{sid}:applied:{token}
                          string the line's quantity after a write made under an
                                 Idempotency-Key (`token` digests owner, key and request);
                                 lives as long as the key (IDEMPOTENCY_KEY_TTL)

The meta hash is the cart's existence marker (an empty lines hash does not exist in Redis).
Every change is one Lua script (`carts.scripts`), so the access check, the limits and the
write happen atomically: two concurrent adds can never exceed the line limit or the
quantity bound, and no line changes once a checkout has claimed the cart. Every write
refreshes the TTL of the lines and the meta hash.

A keyed add records its token in the same script that changes the line, and a script that
finds the token answers with the cart instead of adding again. PostgreSQL remembers the
answer only afterwards (`commerce_project.api.idempotency`), so without this a request that
died in between (a killed worker, a database error) would add the units twice on retry.

Every reply of a script is decoded in one place, `_decode`, into a `ScriptReply`: its
`Outcome` and the typed values that outcome carries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import redis

from inventory.stock_cache import (
    CatalogueValues,
    catalogue_decode,
    catalogue_script_args,
    product_id_parse,
    redis_client,
    script_run,
)

from . import scripts
from .exceptions import CartStoreUnavailable
from .scripts import LineMode, Outcome

logger = logging.getLogger(__name__)

ANONYMOUS = "anonymous"


def lines_key(session_id: str) -> str:
    return f"cart:{session_id}"


def meta_key(session_id: str) -> str:
    return f"cart:{session_id}:meta"


def checkout_key(session_id: str) -> str:
    return f"cart:{session_id}:checkout"


def applied_key(session_id: str, token: str) -> str:
    return f"cart:{session_id}:applied:{token}"


def _keys(session_id: str) -> list[str]:
    return [lines_key(session_id), meta_key(session_id), checkout_key(session_id)]


@dataclass(frozen=True)
class CheckoutMarker:
    """What `cart:{sid}:checkout` holds: the order of the checkout that holds the cart
    ("pending:<order_id>") or that completed it ("done:<order_id>")."""

    order_id: UUID
    done: bool

    @classmethod
    def parse(cls, raw: str) -> CheckoutMarker:
        state, _, order_id = raw.partition(":")
        return cls(order_id=UUID(order_id), done=state == "done")


@dataclass(frozen=True)
class StoredCart:
    session_id: str
    owner: str
    currency: str | None
    lines: dict[UUID, int]
    checkout: CheckoutMarker | None = None
    ttl_seconds: int = -1
    # The stock cache's values for the lines, read in the same script (None: not read).
    catalogue: CatalogueValues | None = None

    @property
    def owner_id(self) -> UUID | None:
        return None if self.owner == ANONYMOUS else UUID(self.owner)


@dataclass(frozen=True)
class ScriptReply:
    """A script's answer (see `carts.scripts` for what each outcome carries): `cart` after
    OK from a read or a line write, `lines` after WON, `checkout` after CLAIMED,
    `cart_currency` after CURRENCY, `line_count` after LINES, `current` (the line's
    quantity) after QUANTITY and SHORT, `available` (what the line could hold) after
    SHORT."""

    outcome: Outcome
    cart: StoredCart | None = None
    lines: dict[UUID, int] = field(default_factory=dict)
    checkout: CheckoutMarker | None = None
    cart_currency: str = ""
    line_count: int = 0
    current: int = 0
    available: int = 0


def _decode(session_id: str, reply: Sequence[Any]) -> ScriptReply:
    """The one reader of the scripts' replies: {outcome, detail, ...} as `carts.scripts`
    describes them."""
    outcome = Outcome(reply[0])
    detail = str(reply[1]) if len(reply) > 1 else ""
    match outcome:
        case Outcome.OK if len(reply) > 2:
            return ScriptReply(outcome, cart=_cart_from(session_id, reply))
        case Outcome.WON:
            return ScriptReply(outcome, lines=_lines(reply[2:]))
        case Outcome.CLAIMED:
            return ScriptReply(outcome, checkout=CheckoutMarker.parse(detail))
        case Outcome.CURRENCY:
            return ScriptReply(outcome, cart_currency=detail)
        case Outcome.LINES:
            return ScriptReply(outcome, line_count=int(detail))
        case Outcome.QUANTITY:
            return ScriptReply(outcome, current=int(detail))
        case Outcome.SHORT:
            return ScriptReply(outcome, current=int(detail), available=int(reply[2]))
    return ScriptReply(outcome)


def _cart_from(session_id: str, reply: Sequence[Any]) -> StoredCart:
    """{'ok', detail, owner, currency, ttl, checkout, n, n line pairs, 2n catalogue values}."""
    owner, currency, ttl, checkout = reply[2], reply[3], reply[4], reply[5]
    count = int(reply[6])
    flat = reply[7 : 7 + 2 * count]
    product_ids = [product_id_parse(product_id) for product_id in flat[::2]]
    return StoredCart(
        session_id=session_id,
        owner=owner,
        currency=currency or None,
        lines=dict(zip(product_ids, map(int, flat[1::2]), strict=True)),
        checkout=CheckoutMarker.parse(checkout) if checkout else None,
        ttl_seconds=int(ttl),
        catalogue=catalogue_decode(product_ids, reply[7 + 2 * count :]),
    )


def _lines(flat: Sequence[str]) -> dict[UUID, int]:
    pairs = zip(flat[::2], flat[1::2], strict=True)
    return {product_id_parse(product_id): int(quantity) for product_id, quantity in pairs}


@contextmanager
def _store() -> Iterator[redis.Redis]:
    try:
        yield redis_client()
    except redis.RedisError as exc:
        logger.warning("cart store unreachable: %s", exc)
        raise CartStoreUnavailable() from exc


def _run(script: str, session_id: str, args: list[Any], extra_keys: list[str] | None = None) -> Any:
    keys = _keys(session_id) + (extra_keys or [])
    with _store():
        return script_run(script, keys=keys, args=args)


def _reply(
    script: str, session_id: str, args: list[Any], extra_keys: list[str] | None = None
) -> ScriptReply:
    return _decode(session_id, list(_run(script, session_id, args, extra_keys)))


def cart_store_create(*, session_id: str, owner: str, ttl_seconds: int) -> bool:
    """False when the session id is taken (never, for a fresh token)."""
    with _store() as client:
        pipe = client.pipeline(transaction=True)
        pipe.hsetnx(meta_key(session_id), "owner", owner)
        pipe.expire(meta_key(session_id), ttl_seconds)
        created, _ = pipe.execute()
    return bool(created)


def cart_store_read(*, session_id: str) -> StoredCart | None:
    """The cart and the catalogue cache's values for its lines, in one script (one round
    trip, one consistent snapshot); None when the cart does not exist."""
    return _reply(scripts.READ, session_id, catalogue_script_args()).cart


def cart_store_write_line(
    *,
    session_id: str,
    requester: str,
    product_id: UUID,
    quantity: int,
    mode: LineMode,
    max_lines: int,
    max_quantity: int,
    available: int | None,
    currency: str | None,
    ttl_seconds: int,
    applied_token: str | None = None,
    applied_ttl_seconds: int = 0,
) -> ScriptReply:
    """ADD increments the line, SET replaces it (0 removes). A line may not grow beyond
    `available`; shrinking is always allowed. Without `available` and `currency` the script
    reads them (and the active flag) from the catalogue cache, answering UNCACHED when the
    product is not there. With `applied_token` the write happens at most once per token
    (for `applied_ttl_seconds`): a repeat answers OK with the cart."""
    return _reply(
        scripts.WRITE_LINE,
        session_id,
        [
            requester,
            str(product_id),
            quantity,
            str(mode),
            max_lines,
            max_quantity,
            "" if available is None else available,
            currency or "",
            ttl_seconds,
            *catalogue_script_args(),
            applied_ttl_seconds,
        ],
        [applied_key(session_id, applied_token)] if applied_token else None,
    )


def cart_store_delete(*, session_id: str, requester: str) -> ScriptReply:
    return _reply(scripts.DELETE, session_id, [requester])


def cart_store_claim(
    *, session_id: str, user_id: UUID, order_id: UUID, claim_ttl_ms: int, ttl_seconds: int
) -> ScriptReply:
    """WON with the frozen `lines`, or why not (CLAIMED, EMPTY, MISSING)."""
    return _reply(
        scripts.CLAIM, session_id, [str(user_id), str(order_id), claim_ttl_ms, ttl_seconds]
    )


def cart_store_complete(*, session_id: str, order_id: UUID, ttl_seconds: int) -> None:
    _run(scripts.COMPLETE, session_id, [str(order_id), ttl_seconds])


def cart_store_release_claim(*, session_id: str, order_id: UUID) -> bool:
    return bool(_run(scripts.RELEASE, session_id, [str(order_id)]))
