"""The cart store's Lua scripts and the outcomes they answer with (see `carts.repository`,
which runs them and decodes every reply in one place).

KEYS of every script: lines `cart:{sid}`, meta `cart:{sid}:meta`, checkout
`cart:{sid}:checkout`, and for a keyed write the applied-token key. A reply that is a table
starts with an `Outcome` value and a detail string; what follows depends on the outcome:

    ok        read and write: owner, currency, ttl, checkout marker, then the lines (their
              count n, n product/quantity pairs) and the catalogue cache's 2n values for
              them (inventory's CATALOGUE_LUA catalogue_values); the write's detail is the
              line's new quantity. delete: nothing more.
    won       claim: the product/quantity pairs the claim froze.
    claimed   detail: the checkout marker ("pending:<order_id>" or "done:<order_id>").
    currency  detail: the cart's currency.
    lines     detail: the cart's line count.
    quantity  detail: the line's current quantity.
    short     detail: the line's current quantity; then what is available.
    missing, empty, uncached, inactive: nothing more.

The product's availability, currency and active flag come from inventory's catalogue cache,
read by the functions of `inventory.stock_cache.CATALOGUE_LUA` with the ARGV values
`catalogue_script_args()` gives: the key layout and the entry's format belong to inventory.
"""

from __future__ import annotations

from enum import StrEnum

from inventory.stock_cache import CATALOGUE_LUA


class Outcome(StrEnum):
    """The first value of a script's reply."""

    OK = "ok"  # done
    WON = "won"  # the claim is this caller's
    MISSING = "missing"  # no such cart, or not the requester's
    CLAIMED = "claimed"  # a checkout holds (or completed) the cart
    EMPTY = "empty"  # nothing to check out
    CURRENCY = "currency"  # the cart is priced in another currency
    LINES = "lines"  # the cart has as many lines as it may
    QUANTITY = "quantity"  # the line would exceed its bound
    SHORT = "short"  # the line would exceed what is available
    UNCACHED = "uncached"  # the catalogue cache lacks the product
    INACTIVE = "inactive"  # the product is not for sale


class LineMode(StrEnum):
    """How a write changes a line."""

    ADD = "add"  # increments it
    SET = "set"  # replaces it; 0 removes it


# Appends the lines (their count, then the pairs) and the catalogue cache's values for them
# to `head`, ARGV[prefix_at] and ARGV[prefix_at + 1] being catalogue_script_args(), so that
# showing a cart needs no second round trip.
_WITH_CATALOGUE = (
    CATALOGUE_LUA
    + """
local function with_catalogue(head, prefix_at)
  local lines = redis.call('HGETALL', KEYS[1])
  head[#head + 1] = tostring(#lines / 2)
  local ids = {}
  for i = 1, #lines do
    head[#head + 1] = lines[i]
  end
  for i = 1, #lines, 2 do
    ids[#ids + 1] = lines[i]
  end
  local values = catalogue_values(ARGV[prefix_at], ARGV[prefix_at + 1], ids)
  for i = 1, #values do
    head[#head + 1] = values[i]
  end
  return head
end
"""
)

# ARGV = catalogue_script_args().
READ = (
    _WITH_CATALOGUE
    + """
local meta = redis.call('HMGET', KEYS[2], 'owner', 'currency')
if not meta[1] then
  return {'missing', ''}
end
local head = {'ok', '', meta[1], meta[2] or '', tostring(redis.call('TTL', KEYS[2])),
              redis.call('GET', KEYS[3]) or ''}
return with_catalogue(head, 1)
"""
)

# Shared head of every write: ARGV[1] = requester.
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
# ARGV: requester, product_id, quantity, mode (LineMode), max_lines, max_quantity,
#       available, currency, ttl, catalogue_script_args() (two values), applied-token ttl.
#       Answers with the cart as it now is (as READ does), saving a read. With available and
#       currency empty the script takes them from the catalogue cache, so an add is one
#       round trip; the product check comes first, before the cart's, as it would in the
#       caller. A token already applied to a cart the requester may write answers with the
#       cart as it is, changing nothing, before any other check: the product may have been
#       withdrawn, or a checkout begun, since the write the token records.
WRITE_LINE = (
    _WITH_CATALOGUE
    + """
local ttl = ARGV[9]
local function answer(owner, new)
  return with_catalogue({'ok', tostring(new), owner,
                         redis.call('HGET', KEYS[2], 'currency') or '',
                         tostring(redis.call('TTL', KEYS[2])),
                         redis.call('GET', KEYS[3]) or ''}, 10)
end
if KEYS[4] then
  local applied = redis.call('GET', KEYS[4])
  if applied then
    local owner = redis.call('HGET', KEYS[2], 'owner')
    if owner and (owner == 'anonymous' or owner == ARGV[1]) then
      return answer(owner, tonumber(applied))
    end
  end
end
local available, currency = ARGV[7], ARGV[8]
if available == '' then
  local active
  available, currency, active = catalogue_product(ARGV[10], ARGV[11], ARGV[2])
  if available == nil then
    return {'uncached', ''}
  end
  if not active then
    return {'inactive', ''}
  end
end
available = tonumber(available)
"""
    + _ACCESS
    + """
local quantity = tonumber(ARGV[3])
if ARGV[4] == 'set' and quantity == 0 then
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  return answer(owner, 0)
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
return answer(owner, new)
"""
)

# ARGV: requester
DELETE = (
    _ACCESS
    + """
redis.call('DEL', KEYS[1], KEYS[2])
return {'ok', ''}
"""
)

# ARGV: user id, order id, claim ttl (ms), cart ttl (s). The owner check lets the
# customer adopt an anonymous cart; the claim freezes the lines it returns.
CLAIM = (
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
# Answers 1.
COMPLETE = """
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[3], 'done:' .. ARGV[1], 'EX', ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""

# ARGV: order id. Only the checkout that holds the claim may drop it. Answers 1 when it
# did, 0 otherwise.
RELEASE = """
if redis.call('GET', KEYS[3]) == 'pending:' .. ARGV[1] then
  redis.call('DEL', KEYS[3])
  return 1
end
return 0
"""
