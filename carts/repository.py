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
Every change is one Lua script, so the access check, the limits and the write happen
atomically: two concurrent adds can never exceed the line limit or the quantity bound, and
no line changes once a checkout has claimed the cart. Every write refreshes the TTL of the
lines and the meta hash.

A keyed add records its token in the same script that changes the line, and a script that
finds the token answers with the cart instead of adding again. PostgreSQL remembers the
answer only afterwards (`commerce_project.api.idempotency`), so without this a request that
died in between (a killed worker, a database error) would add the units twice on retry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import redis

from inventory.stock_cache import (
    CATALOGUE_KEY_PREFIX,
    CATALOGUE_PRODUCT_SUFFIX,
    CatalogueValues,
    catalogue_decode,
    redis_client,
)

from .exceptions import CartStoreUnavailable

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
class StoredCart:
    session_id: str
    owner: str
    currency: str | None
    lines: dict[UUID, int]
    checkout: str | None = None
    ttl_seconds: int = -1
    # The stock cache's values for the lines, read in the same script (None: not read).
    catalogue: CatalogueValues | None = None

    @property
    def owner_id(self) -> UUID | None:
        return None if self.owner == ANONYMOUS else UUID(self.owner)


@dataclass(frozen=True)
class WriteResult:
    """`outcome` is "ok" / "won" or why the script refused: missing (no such cart, or not
    the requester's), claimed (a checkout holds it; `detail` is the claim), empty (nothing
    to check out), currency (`detail` is the cart's currency), lines (`detail` is the line
    count), quantity / short (`detail` is the line's current quantity; `available` what
    the line could hold), uncached (the catalogue cache lacks the product: the caller
    looks it up and passes its values), inactive (the product is not for sale)."""

    outcome: str
    detail: str = ""
    cart: StoredCart | None = None
    available: int = 0


# Appends the line count, the lines and the catalogue cache's values for them (availability
# keys, then entry keys; ARGV[prefix_at] and ARGV[prefix_at + 1] name them) to `head`, so
# that showing a cart needs no second round trip.
_WITH_CATALOGUE = """
local function with_catalogue(head, prefix_at)
  local prefix, suffix = ARGV[prefix_at], ARGV[prefix_at + 1]
  local lines = redis.call('HGETALL', KEYS[1])
  head[#head + 1] = tostring(#lines / 2)
  for i = 1, #lines do
    head[#head + 1] = lines[i]
  end
  if #lines > 0 then
    local keys = {}
    for i = 1, #lines, 2 do
      keys[#keys + 1] = prefix .. lines[i]
    end
    for i = 1, #lines, 2 do
      keys[#keys + 1] = prefix .. lines[i] .. suffix
    end
    local values = redis.call('MGET', unpack(keys))
    for i = 1, #values do
      head[#head + 1] = values[i]
    end
  end
  return head
end
"""

# KEYS = lines, meta, checkout; ARGV = catalogue key prefix, suffix.
_READ = (
    _WITH_CATALOGUE
    + """
local meta = redis.call('HMGET', KEYS[2], 'owner', 'currency')
if not meta[1] then
  return {'missing'}
end
local head = {'ok', '', meta[1], meta[2] or '', tostring(redis.call('TTL', KEYS[2])),
              redis.call('GET', KEYS[3]) or ''}
return with_catalogue(head, 1)
"""
)

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

# KEYS[4], when given: the applied-token key of a keyed write.
# ARGV: requester, product_id, quantity, mode (add|set), max_lines, max_quantity,
#       available, currency, ttl, catalogue key prefix, suffix, applied-token ttl. Answers
#       with the cart as it now is (as _READ does), saving a read. With available and
#       currency empty the script takes them from the catalogue cache, so an add is one
#       round trip; the product check comes first, before the cart's, as it would in the
#       caller. A token already applied answers with the cart, changing nothing.
_WRITE_LINE = (
    _WITH_CATALOGUE
    + """
local available, currency = ARGV[7], ARGV[8]
if available == '' then
  local stock = redis.call('GET', ARGV[10] .. ARGV[2])
  local entry = redis.call('GET', ARGV[10] .. ARGV[2] .. ARGV[11])
  if not stock or not entry then
    return {'uncached', ''}
  end
  entry = cjson.decode(entry)
  if not entry['active'] then
    return {'inactive', ''}
  end
  available, currency = stock, entry['currency']
end
available = tonumber(available)
"""
    + _ACCESS
    + """
local ttl = ARGV[9]
local function answer(new)
  return with_catalogue({'ok', tostring(new), owner,
                         redis.call('HGET', KEYS[2], 'currency') or '',
                         tostring(redis.call('TTL', KEYS[2])), ''}, 10)
end
if KEYS[4] then
  local applied = redis.call('GET', KEYS[4])
  if applied then
    return answer(tonumber(applied))
  end
end
local quantity = tonumber(ARGV[3])
if ARGV[4] == 'set' and quantity == 0 then
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  return answer(0)
end
local count = redis.call('HLEN', KEYS[1])
if count > 0 then
  local cart_currency = redis.call('HGET', KEYS[2], 'currency')
  if cart_currency and cart_currency ~= currency then
    return {'currency', cart_currency}
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
if new > current and new > available then
  return {'short', tostring(current), tostring(available)}
end
if ARGV[4] == 'add' then
  redis.call('HINCRBY', KEYS[1], ARGV[2], quantity)
else
  redis.call('HSET', KEYS[1], ARGV[2], quantity)
end
redis.call('HSET', KEYS[2], 'currency', currency)
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
if KEYS[4] then
  redis.call('SET', KEYS[4], tostring(new), 'EX', ARGV[12])
end
return answer(new)
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


def _run(
    script: str, session_id: str, args: list[Any], extra_keys: list[str] | None = None
) -> list[Any]:
    keys = _keys(session_id) + (extra_keys or [])
    with _store() as client:
        result = client.register_script(script)(keys=keys, args=args)
    return list(result)


def _cart_from_answer(session_id: str, answer: list[Any]) -> StoredCart:
    """Decodes {'ok', detail, owner, currency, ttl, checkout, n, n line pairs, 2n values}."""
    owner, currency, ttl, checkout = answer[2], answer[3], answer[4], answer[5]
    count = int(answer[6])
    flat = answer[7 : 7 + 2 * count]
    lines = _lines(flat)
    product_ids = [UUID(product_id) for product_id in flat[::2]]
    return StoredCart(
        session_id=session_id,
        owner=owner,
        currency=currency or None,
        lines=lines,
        checkout=checkout or None,
        ttl_seconds=int(ttl),
        catalogue=catalogue_decode(product_ids, answer[7 + 2 * count :]),
    )


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
    """The cart and the catalogue cache's values for its lines, in one script (one round
    trip, one consistent snapshot); None when the cart does not exist."""
    answer = _run(_READ, session_id, [CATALOGUE_KEY_PREFIX, CATALOGUE_PRODUCT_SUFFIX])
    if answer[0] != "ok":
        return None
    return _cart_from_answer(session_id, answer)


def cart_store_write_line(
    *,
    session_id: str,
    requester: str,
    product_id: UUID,
    quantity: int,
    mode: str,
    max_lines: int,
    max_quantity: int,
    available: int | None,
    currency: str | None,
    ttl_seconds: int,
    applied_token: str | None = None,
    applied_ttl_seconds: int = 0,
) -> WriteResult:
    """mode "add" increments the line, "set" replaces it (0 removes). A line may not grow
    beyond `available`; shrinking is always allowed. Without `available` and `currency`
    the script reads them (and the active flag) from the catalogue cache, answering
    "uncached" when the product is not there. With `applied_token` the write happens at
    most once per token (for `applied_ttl_seconds`): a repeat answers "ok" with the cart."""
    answer = _run(
        _WRITE_LINE,
        session_id,
        [
            requester,
            str(product_id),
            quantity,
            mode,
            max_lines,
            max_quantity,
            "" if available is None else available,
            currency or "",
            ttl_seconds,
            CATALOGUE_KEY_PREFIX,
            CATALOGUE_PRODUCT_SUFFIX,
            applied_ttl_seconds,
        ],
        [applied_key(session_id, applied_token)] if applied_token else None,
    )
    outcome, detail = str(answer[0]), str(answer[1])
    if outcome == "short":
        return WriteResult(outcome, detail, available=int(answer[2]))
    if outcome != "ok":
        return WriteResult(outcome, detail)
    return WriteResult(outcome, detail, _cart_from_answer(session_id, answer))


def cart_store_delete(*, session_id: str, requester: str) -> WriteResult:
    outcome, detail = _run(_DELETE, session_id, [requester])
    return WriteResult(str(outcome), str(detail))


def cart_store_claim(
    *, session_id: str, user_id: UUID, order_id: UUID, claim_ttl_ms: int, ttl_seconds: int
) -> tuple[WriteResult, dict[UUID, int]]:
    result = _run(_CLAIM, session_id, [str(user_id), str(order_id), claim_ttl_ms, ttl_seconds])
    outcome, detail, flat = str(result[0]), str(result[1]), result[2:]
    return WriteResult(outcome, detail), _lines(flat) if outcome == "won" else {}


def cart_store_complete(*, session_id: str, order_id: UUID, ttl_seconds: int) -> None:
    with _store() as client:
        client.register_script(_COMPLETE)(keys=_keys(session_id), args=[str(order_id), ttl_seconds])


def cart_store_release_claim(*, session_id: str, order_id: UUID) -> bool:
    with _store() as client:
        released = client.register_script(_RELEASE)(keys=_keys(session_id), args=[str(order_id)])
    return bool(released)
