"""The Redis stock and catalogue cache, and the Redis client it (and the cart store) use.

`inventory:{product_id}` holds the available quantity (on_hand - reserved) as a plain
integer, so one MGET answers a whole catalogue page. Beside it, `inventory:{product_id}:version`
holds the StockItem version the value was computed at: writes go through a tiny Lua script
that refuses to replace a newer version with an older one, so two after-commit writes that
arrive out of order (or a slow fallback read racing a reservation) cannot leave a stale
number behind. `inventory:{product_id}:product` is a hash of what a cart shows and checks
(sku, name, price, currency, active), guarded the same way by the product's updated_at, so
a cart is priced without a database query.

Every key expires after INVENTORY_CACHE_TTL (60 s by default), which bounds how long a
value can stay wrong when its after-commit write is lost: to a crash between COMMIT and
the hook, or to Redis being unreachable at that moment (the failure is logged with the
product ids). A write refused by the version guard still caps the TTL of the keys it
leaves in place, so no key outlives the setting, whatever wrote it.

The cache is advisory: reservations and commits read StockItem in PostgreSQL, never this.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
import redis
from django.conf import settings
from django.db import transaction
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.exceptions import NoScriptError, ResponseError
from redis.retry import Retry

from commerce_project.metrics import redis_fail_open

logger = logging.getLogger(__name__)

_client_lock = threading.Lock()
_client: tuple[tuple[str, float], redis.Redis] | None = None


def redis_client() -> redis.Redis:
    """A process-wide client for settings.REDIS_URL with short timeouts, created lazily and
    re-created when the URL or timeout setting changes (tests point it at a closed port).

    One retry only: redis-py's default of ten would turn an outage into a multi-second
    stall of every request instead of a quick 503 or database fallback."""
    global _client
    key = (settings.REDIS_URL, float(settings.REDIS_SOCKET_TIMEOUT))
    current = _client
    if current is not None and current[0] == key:
        return current[1]
    with _client_lock:
        if _client is None or _client[0] != key:
            client = redis.Redis.from_url(
                key[0],
                socket_timeout=key[1],
                socket_connect_timeout=key[1],
                retry=Retry(NoBackoff(), 1),
                decode_responses=True,
            )
            _client = (key, client)
        return _client[1]


@functools.cache
def _script(text: str) -> Script:
    return redis_client().register_script(text)


def script_run(text: str, *, keys: Sequence[Any], args: Sequence[Any]) -> Any:
    """Runs a Lua script by its SHA on the current client (loading it on first use), with
    the script object made once per process: `register_script` hashes the text on every
    call, a cost every API request paid in the token cache and the cart store."""
    script = _script(text)
    client = redis_client()
    if _commands_wrapped(client):
        # OpenTelemetry's redis instrumentation wraps execute_command: go through it, so
        # the script keeps its span.
        return script(keys=keys, args=args, client=client)
    return _evalsha(client, script, keys, args)


def _commands_wrapped(client: redis.Redis) -> bool:
    return hasattr(type(client).execute_command, "__wrapped__")


# Each thread's own connection for `_evalsha` (see `_thread_connection`).
_held = threading.local()


def _thread_connection(client: redis.Redis) -> Any:
    """This thread's connection to the client's Redis, made from the client's pool settings
    but kept out of the pool. Borrowing from redis-py's pool takes its lock twice and costs
    four observability counters and a poll() of the socket on every call; a connection only
    this thread uses needs none of them. It is never left holding an unread reply: any error
    while sending or reading drops it (`_evalsha_on`). A forked child, or a client
    made anew (other settings), gets a new connection. These connections are closed with
    their thread (or process), not by the pool's `disconnect()`."""
    held = getattr(_held, "connection", None)
    pid = os.getpid()
    if held is not None:
        if held[0] is client and held[1] == pid:
            return held[2]
        held[2].disconnect()  # redis-py leaves the socket alone for the parent after a fork
    pool = client.connection_pool
    connection = pool.connection_class(**pool.connection_kwargs)
    _held.connection = (client, pid, connection)
    return connection


def _evalsha(client: redis.Redis, script: Script, keys: Sequence[Any], args: Sequence[Any]) -> Any:
    """EVALSHA on this thread's connection, what `Script.__call__` does through
    `execute_command` (same connection settings, parser, retry policy and NOSCRIPT reload)
    without the layers in between: the token cache runs one script on every API request, and
    redis-py's generic command path (observability hooks, option filtering, response
    callbacks, none of which EVALSHA uses) and its pool cost a good part of that call's CPU."""
    conn = _thread_connection(client)
    try:
        try:
            return _evalsha_on(conn, script.sha, keys, args)
        except NoScriptError:
            # A Redis that restarted, or was flushed, forgot the script.
            script.sha = client.script_load(script.script)
            return _evalsha_on(conn, script.sha, keys, args)
    finally:
        if conn.should_reconnect():
            conn.disconnect()  # the server asked for it; the next use connects anew


def _evalsha_on(conn: Any, sha: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
    def send_and_read() -> Any:
        try:
            conn.send_command("EVALSHA", sha, len(keys), *keys, *args)
            return conn.read_response()
        except ResponseError:
            raise  # the server's answer (NOSCRIPT too), read in full
        except BaseException:
            # Whatever stopped us between sending and reading (redis-py drops the connection
            # itself for errors inside either) may leave the reply unread: the next script
            # on this thread's connection would read it as its own.
            conn.disconnect()
            raise

    # The client's retry policy, as execute_command applies it: a connection or timeout
    # error drops the connection and tries again (once, with redis_client's Retry).
    return conn.retry.call_with_retry(send_and_read, lambda _error: conn.disconnect())


@dataclass(frozen=True)
class StockLevel:
    product_id: UUID
    available: int
    version: int


def stock_cache_key(product_id: UUID) -> str:
    return f"{CATALOGUE_KEY_PREFIX}{product_id}"


def _version_key(product_id: UUID) -> str:
    return f"{CATALOGUE_KEY_PREFIX}{product_id}:version"


# Caps the TTL of every key in KEYS at ARGV[ttl_at] (seconds), giving one to keys that have
# none. A refused write runs it: the value it leaves in place then still expires in time,
# even when no accepted write ever comes (a key set by hand, or under a longer TTL setting).
_BOUND_TTL = """
local function bound_ttl(ttl_at)
  local ttl = tonumber(ARGV[ttl_at])
  for _, key in ipairs(KEYS) do
    local left = redis.call('TTL', key)
    if left == -1 or left > ttl then
      redis.call('EXPIRE', key, ttl)
    end
  end
end
"""

# KEYS: value key, version key. ARGV: available, version, ttl seconds.
_GUARDED_SET = (
    _BOUND_TTL
    + """
local stored = tonumber(redis.call('GET', KEYS[2]) or '-1')
if stored > tonumber(ARGV[2]) then
  bound_ttl(3)
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1
"""
)


_LOGGED_IDS = 20


def _lost_write(what: str, product_ids: Sequence[UUID], exc: redis.RedisError) -> None:
    """Logs a cache write that did not happen. What Redis holds for these products may now
    be stale until their keys expire (INVENTORY_CACHE_TTL) or the next change rewrites them."""
    redis_fail_open.labels("cache_write").inc()
    shown = ", ".join(str(pid) for pid in product_ids[:_LOGGED_IDS])
    more = len(product_ids) - _LOGGED_IDS
    if more > 0:
        shown += f" and {more} more"
    logger.warning(
        "%s cache write of %d products failed (%s); their cached values may be stale for up "
        "to %d s: %s",
        what,
        len(product_ids),
        shown,
        int(settings.INVENTORY_CACHE_TTL),
        exc,
    )


# One guarded write: the product it is for, the script's KEYS and ARGV.
_Write = tuple[UUID, list[str], list[Any]]


def _guarded_writes(what: str, script: str, writes: Sequence[_Write]) -> None:
    """Runs `script` once per write, in one round trip: EVALSHA for a single write (the
    usual case, one stock row changed), else pipelined (a pipeline first asks SCRIPT EXISTS,
    a second round trip). A Redis failure is logged (naming the products) and swallowed."""
    if not writes:
        return
    try:
        if len(writes) == 1:
            _, keys, args = writes[0]
            # Every reservation and release writes one: the script made once per process.
            script_run(script, keys=keys, args=args)
            return
        guarded = _script(script)
        pipe = redis_client().pipeline(transaction=False)
        for _, keys, args in writes:
            guarded(keys=keys, args=args, client=pipe)
        pipe.execute()
    except redis.RedisError as exc:
        _lost_write(what, [product_id for product_id, _, _ in writes], exc)


def stock_cache_write(levels: Iterable[StockLevel]) -> None:
    """Writes now, in one round trip. A Redis failure is logged (naming the products) and
    swallowed: the database stays the truth, and what Redis still holds expires within
    INVENTORY_CACHE_TTL, after which reads fall back to the database and rewrite the key."""
    ttl = int(settings.INVENTORY_CACHE_TTL)
    writes = [
        (
            level.product_id,
            [stock_cache_key(level.product_id), _version_key(level.product_id)],
            [level.available, level.version, ttl],
        )
        for level in levels
    ]
    _guarded_writes("stock", _GUARDED_SET, writes)


def stock_cache_write_on_commit(levels: Iterable[StockLevel]) -> None:
    """Schedules the write for after the surrounding transaction commits, so a rollback
    never reaches the cache (runs at once outside a transaction)."""
    batch = list(levels)
    if batch:
        transaction.on_commit(lambda: stock_cache_write(batch))


def stock_cache_read(product_ids: Sequence[UUID]) -> dict[UUID, int]:
    """One MGET. Products without a key are absent from the result. Raises RedisError."""
    if not product_ids:
        return {}
    values = redis_client().mget([stock_cache_key(pid) for pid in product_ids])
    return {pid: int(value) for pid, value in zip(product_ids, values, strict=True) if value}


def stock_cache_forget(product_ids: Iterable[UUID]) -> None:
    """Drops keys (tests and operators); the next read repopulates them from the database."""
    keys = [
        key
        for pid in product_ids
        for key in (stock_cache_key(pid), _version_key(pid), product_cache_key(pid))
    ]
    if keys:
        redis_client().delete(*keys)


@dataclass(frozen=True)
class ProductEntry:
    product_id: UUID
    sku: str
    name: str
    price: Decimal
    currency: str
    active: bool
    version: int  # the product's updated_at in microseconds


def product_cache_key(product_id: UUID) -> str:
    return f"{CATALOGUE_KEY_PREFIX}{product_id}{CATALOGUE_PRODUCT_SUFFIX}"


# KEYS: product key. ARGV: version, ttl, entry as JSON (with the version as "v").
_GUARDED_PRODUCT_SET = (
    _BOUND_TTL
    + """
local stored = redis.call('GET', KEYS[1])
if stored and tonumber(cjson.decode(stored)['v']) > tonumber(ARGV[1]) then
  bound_ttl(2)
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[2])
return 1
"""
)


def _entry_json(entry: ProductEntry) -> str:
    return json.dumps(
        {
            "v": entry.version,
            "sku": entry.sku,
            "name": entry.name,
            "price": str(entry.price),
            "currency": entry.currency,
            "active": entry.active,
        },
        separators=(",", ":"),
    )


# Every cart read decodes an entry per line, and the same few products' entries (and ids)
# come back again and again: each distinct text is decoded once per process. A cache of the
# decoding only: the text is what Redis answered now, so nothing read through it is older.
@functools.lru_cache(maxsize=8192)
def product_id_parse(text: str) -> UUID:
    return UUID(text)


@functools.lru_cache(maxsize=4096)
def _entry_from_json(product_id: UUID, raw: str | bytes) -> ProductEntry:
    data = orjson.loads(raw)
    return ProductEntry(
        product_id,
        data["sku"],
        data["name"],
        Decimal(data["price"]),
        data["currency"],
        bool(data["active"]),
        int(data["v"]),
    )


def product_cache_write(entries: Iterable[ProductEntry]) -> None:
    """Writes now, one round trip; Redis errors are logged and swallowed."""
    ttl = int(settings.INVENTORY_CACHE_TTL)
    writes = [
        (
            entry.product_id,
            [product_cache_key(entry.product_id)],
            [entry.version, ttl, _entry_json(entry)],
        )
        for entry in entries
    ]
    _guarded_writes("product", _GUARDED_PRODUCT_SET, writes)


def product_cache_write_on_commit(entries: Iterable[ProductEntry]) -> None:
    batch = list(entries)
    if batch:
        transaction.on_commit(lambda: product_cache_write(batch))


# --- The catalogue as another script reads it (the cart store's, in one round trip with its
# own keys). The script prepends CATALOGUE_LUA and passes catalogue_script_args() among its
# ARGV: the key layout and the entry's fields are known here only.

CATALOGUE_KEY_PREFIX = "inventory:"
CATALOGUE_PRODUCT_SUFFIX = ":product"

# catalogue_values(prefix, suffix, ids): the values of the availability keys of `ids`, then
# of their entry keys, in that order (false where a key is missing) — what catalogue_decode
# reads back. catalogue_product(prefix, suffix, id): the product's availability (a number),
# currency and active flag, or nil when either key is missing.
CATALOGUE_LUA = """
local function catalogue_values(prefix, suffix, ids)
  if #ids == 0 then
    return {}
  end
  local keys = {}
  for i = 1, #ids do
    keys[#keys + 1] = prefix .. ids[i]
  end
  for i = 1, #ids do
    keys[#keys + 1] = prefix .. ids[i] .. suffix
  end
  return redis.call('MGET', unpack(keys))
end
local function catalogue_product(prefix, suffix, id)
  local stock = redis.call('GET', prefix .. id)
  local entry = redis.call('GET', prefix .. id .. suffix)
  if not stock or not entry then
    return nil
  end
  entry = cjson.decode(entry)
  return tonumber(stock), entry['currency'], entry['active']
end
"""


def catalogue_script_args() -> list[str]:
    """The two ARGV values (in this order) a script gives CATALOGUE_LUA's functions."""
    return [CATALOGUE_KEY_PREFIX, CATALOGUE_PRODUCT_SUFFIX]


@dataclass(frozen=True)
class CatalogueValues:
    """What the catalogue cache holds for some products; products it lacks are absent."""

    available: dict[UUID, int]
    entries: dict[UUID, ProductEntry]


def catalogue_cache_read(product_ids: Sequence[UUID]) -> CatalogueValues:
    """Availability and product entries of `product_ids` with one MGET. Missing keys are
    absent from the answer. Raises RedisError."""
    if not product_ids:
        return CatalogueValues({}, {})
    keys = [stock_cache_key(pid) for pid in product_ids]
    keys += [product_cache_key(pid) for pid in product_ids]
    return catalogue_decode(product_ids, redis_client().mget(keys))


def catalogue_decode(product_ids: Sequence[UUID], values: Sequence[Any]) -> CatalogueValues:
    """Decodes the values of the availability keys of `product_ids` followed by those of
    their entry keys, in that order (None where a key is missing): the MGET of
    catalogue_cache_read, or what CATALOGUE_LUA's catalogue_values answered."""
    count = len(product_ids)
    available = {
        pid: int(value) for pid, value in zip(product_ids, values[:count], strict=True) if value
    }
    entries = {
        pid: _entry_from_json(pid, value)
        for pid, value in zip(product_ids, values[count:], strict=True)
        if value
    }
    return CatalogueValues(available, entries)
