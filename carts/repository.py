"""The Redis cart store. Nothing here knows about products or HTTP.

Keys of one cart (session id `sid`, an unguessable `secrets.token_urlsafe(32)`):

    cart:{sid}            hash   product_id -> quantity (the lines)
    cart:{sid}:meta       hash   owner ("anonymous" or the customer's user id), currency
    cart:{sid}:checkout   string "pending:<order_id>" while a checkout holds the cart,
                                 "done:<order_id>" once the order is committed

The meta hash is the cart's existence marker (an empty lines hash does not exist in Redis).
Every change is one Lua script, so the access check, the limits and the write happen
atomically: two concurrent adds can never exceed the line limit or the quantity bound, and
no line changes once a checkout has claimed the cart. Every write refreshes the TTL of the
lines and the meta hash.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import redis

from inventory.stock_cache import redis_client

from .exceptions import CartStoreUnavailable

logger = logging.getLogger(__name__)

ANONYMOUS = "anonymous"


def lines_key(session_id: str) -> str:
    return f"cart:{session_id}"


def meta_key(session_id: str) -> str:
    return f"cart:{session_id}:meta"


def checkout_key(session_id: str) -> str:
    return f"cart:{session_id}:checkout"


def _keys(session_id: str) -> list[str]:
    return [lines_key(session_id), meta_key(session_id), checkout_key(session_id)]


@dataclass(frozen=True)
class StoredCart:
    session_id: str
    owner: str
    currency: str | None
    lines: dict[UUID, int]
    checkout: str | None = None
    ttl_seconds: int = -1

    @property
    def owner_id(self) -> UUID | None:
        return None if self.owner == ANONYMOUS else UUID(self.owner)


@dataclass(frozen=True)
class WriteResult:
    """`outcome` is "ok" / "won" or why the script refused: missing (no such cart, or not
    the requester's), claimed (a checkout holds it; `detail` is the claim), empty (nothing
    to check out), currency (`detail` is the cart's currency), lines (`detail` is the line
    count), quantity / short (`detail` is the line's current quantity)."""

    outcome: str
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# Shared head of every write: KEYS = lines, meta, checkout; ARGV[1] = requester.
_ACCESS = """
local owner = redis.call('HGET', KEYS[2], 'owner')
if not owner or (owner ~= 'anonymous' and owner ~= ARGV[1]) then
  return {'missing', ''}
end
local claim = redis.call('GET', KEYS[3])
if claim then
  return {'claimed', claim}
end
"""

# ARGV: requester, product_id, quantity, mode (add|set), max_lines, max_quantity,
#       available, currency, ttl
_WRITE_LINE = (
    _ACCESS
    + """
local ttl = ARGV[9]
local quantity = tonumber(ARGV[3])
if ARGV[4] == 'set' and quantity == 0 then
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  return {'ok', '0'}
end
local count = redis.call('HLEN', KEYS[1])
if count > 0 then
  local currency = redis.call('HGET', KEYS[2], 'currency')
  if currency and currency ~= ARGV[8] then
    return {'currency', currency}
  end
end
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0')
if current == 0 and count >= tonumber(ARGV[5]) then
  return {'lines', tostring(count)}
end
local new = quantity
if ARGV[4] == 'add' then
  new = current + quantity
end
if new > tonumber(ARGV[6]) then
  return {'quantity', tostring(current)}
end
if new > current and new > tonumber(ARGV[7]) then
  return {'short', tostring(current)}
end
if ARGV[4] == 'add' then
  redis.call('HINCRBY', KEYS[1], ARGV[2], quantity)
else
  redis.call('HSET', KEYS[1], ARGV[2], quantity)
end
redis.call('HSET', KEYS[2], 'currency', ARGV[8])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
return {'ok', tostring(new)}
"""
)

# ARGV: requester
_DELETE = (
    _ACCESS
    + """
redis.call('DEL', KEYS[1], KEYS[2])
return {'ok', ''}
"""
)

# ARGV: user id, order id, claim ttl (ms), cart ttl (s). The owner check lets the
# customer adopt an anonymous cart; the claim freezes the lines it returns.
_CLAIM = (
    _ACCESS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'empty', ''}
end
redis.call('SET', KEYS[3], 'pending:' .. ARGV[2], 'PX', ARGV[3])
redis.call('HSET', KEYS[2], 'owner', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
local result = {'won', ''}
local lines = redis.call('HGETALL', KEYS[1])
for i = 1, #lines do
  result[#result + 1] = lines[i]
end
return result
"""
)

# ARGV: order id, ttl (s). Unconditional: the order is committed, whatever became of
# the claim meanwhile (it may have lapsed); the "done" marker answers repeated checkouts.
_COMPLETE = """
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[3], 'done:' .. ARGV[1], 'EX', ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""

# ARGV: order id. Only the checkout that holds the claim may drop it.
_RELEASE = """
if redis.call('GET', KEYS[3]) == 'pending:' .. ARGV[1] then
  redis.call('DEL', KEYS[3])
  return 1
end
return 0
"""


@contextmanager
def _store() -> Iterator[redis.Redis]:
    try:
        yield redis_client()
    except redis.RedisError as exc:
        logger.warning("cart store unreachable: %s", exc)
        raise CartStoreUnavailable() from exc


def _run(script: str, session_id: str, args: list[Any]) -> list[str]:
    with _store() as client:
        result = client.register_script(script)(keys=_keys(session_id), args=args)
    return [str(part) for part in result]


def _lines(flat: list[str] | dict[str, str]) -> dict[UUID, int]:
    pairs = flat.items() if isinstance(flat, dict) else zip(flat[::2], flat[1::2], strict=True)
    return {UUID(product_id): int(quantity) for product_id, quantity in pairs}


def cart_store_create(*, session_id: str, owner: str, ttl_seconds: int) -> bool:
    """False when the session id is taken (never, for a fresh token)."""
    with _store() as client:
        pipe = client.pipeline(transaction=True)
        pipe.hsetnx(meta_key(session_id), "owner", owner)
        pipe.expire(meta_key(session_id), ttl_seconds)
        created, _ = pipe.execute()
    return bool(created)


def cart_store_read(*, session_id: str) -> StoredCart | None:
    """One MULTI snapshot of the cart; None when it does not exist."""
    with _store() as client:
        pipe = client.pipeline(transaction=True)
        pipe.hgetall(meta_key(session_id))
        pipe.get(checkout_key(session_id))
        pipe.hgetall(lines_key(session_id))
        pipe.ttl(meta_key(session_id))
        meta, checkout, lines, ttl = pipe.execute()
    if not meta or "owner" not in meta:
        return None
    return StoredCart(
        session_id=session_id,
        owner=meta["owner"],
        currency=meta.get("currency"),
        lines=_lines(lines),
        checkout=checkout,
        ttl_seconds=int(ttl),
    )


def cart_store_write_line(
    *,
    session_id: str,
    requester: str,
    product_id: UUID,
    quantity: int,
    mode: str,
    max_lines: int,
    max_quantity: int,
    available: int,
    currency: str,
    ttl_seconds: int,
) -> WriteResult:
    """mode "add" increments the line, "set" replaces it (0 removes). A line may not grow
    beyond `available`; shrinking is always allowed."""
    outcome, detail = _run(
        _WRITE_LINE,
        session_id,
        [
            requester,
            str(product_id),
            quantity,
            mode,
            max_lines,
            max_quantity,
            available,
            currency,
            ttl_seconds,
        ],
    )
    return WriteResult(outcome, detail)


def cart_store_delete(*, session_id: str, requester: str) -> WriteResult:
    outcome, detail = _run(_DELETE, session_id, [requester])
    return WriteResult(outcome, detail)


def cart_store_claim(
    *, session_id: str, user_id: UUID, order_id: UUID, claim_ttl_ms: int, ttl_seconds: int
) -> tuple[WriteResult, dict[UUID, int]]:
    result = _run(_CLAIM, session_id, [str(user_id), str(order_id), claim_ttl_ms, ttl_seconds])
    outcome, detail, flat = result[0], result[1], result[2:]
    return WriteResult(outcome, detail), _lines(flat) if outcome == "won" else {}


def cart_store_complete(*, session_id: str, order_id: UUID, ttl_seconds: int) -> None:
    with _store() as client:
        client.register_script(_COMPLETE)(keys=_keys(session_id), args=[str(order_id), ttl_seconds])


def cart_store_release_claim(*, session_id: str, order_id: UUID) -> bool:
    with _store() as client:
        released = client.register_script(_RELEASE)(keys=_keys(session_id), args=[str(order_id)])
    return bool(released)
