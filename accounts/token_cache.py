"""A Redis cache of verified sign-in tokens, so an authenticated request needs no database
query, and its throttle count rides in the same Redis round trip.

An entry maps a token's digest to what authentication needs: the user's id and the fields
permissions read, the token's expiry, and the user's *epoch* when the entry was written.
The cache is revocation-safe because nothing the database would refuse can be read from it:

- Every change that can make the database refuse a token (logout, log out everywhere,
  password change, deactivation, a change of staff rights, deletion) calls `user_changing`
  BEFORE it touches the database: one script bumps the user's epoch, which kills every entry
  of the user at once in every process, and raises a *hold* that forbids new entries. After
  the commit `user_changed` bumps the epoch again and lowers the hold. A change whose Redis
  write fails does not happen (`TokenCacheUnavailable`, 503): a Redis that comes back (a
  healed partition) must not serve entries the change meant to kill.
- An entry is only written by `entry_fill` with the epoch read BEFORE the database read
  that verified the token, and only if that epoch is still current and no hold is up. A fill
  racing a change therefore either lands before the change's first bump (and dies with it)
  or is refused.
- The expiry is checked on every hit; an inactive user is never cached.

If the hold outlives AUTH_TOKEN_CACHE_HOLD (a process that died mid-change), the user's
tokens are simply verified in the database until it lapses. Redis must keep these keys
until they expire (`maxmemory-policy noeviction`, as the carts need anyway): an evicted hold
would let a fill through during a change. Keys: `auth:token:<digest>`,
`auth:epoch:<user id>`, `auth:hold:<user id>`, and the throttles' logs
(`throttle_log_<scope>_<ident>`, see accounts.throttles). The scripts
build the per-user keys from the entry they read, so the cache needs one Redis node (not
Redis Cluster).
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

import orjson
import redis
from django.conf import settings

from commerce_project.errors import ServiceUnavailable
from inventory.stock_cache import script_run

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "auth:token:"
EPOCH_PREFIX = "auth:epoch:"
HOLD_PREFIX = "auth:hold:"

# A sliding log per throttle key, as DRF's SimpleRateThrottle keeps in its history list: a
# request is allowed when fewer than `limit` were allowed in the last `duration` seconds,
# that is, when the limit-th newest allowed request is at least `duration` old. The log is a
# list of the allowed requests' times, newest first, so one LINDEX gives the verdict, and
# the wait is the time until that entry leaves the window (DRF's too, whenever the log holds
# at most `limit` entries; after a rate was lowered it may hold more, and then DRF sends no
# wait at all). An allowed request also drops whichever of the two oldest entries have left
# the window before it adds its own: when the log holds `limit` entries or more, its
# limit-th newest, and so its oldest, has left, so the log never grows past `limit` (or past
# its length when the rate was lowered, which it then sheds). A refused request changes
# nothing. `t` is Redis's TIME, read once per script. (A sorted set of the window's
# requests, as before, cost about 20 µs more Redis CPU per token request near 128 entries,
# where its compact encoding parses every score on each insert.)
# Returns {allowed (1/0), seconds to wait (as text: Lua numbers become integers)}.
_THROTTLE_LUA = """
local function throttle(key, limit, duration, t)
  if limit <= 0 then return {0, tostring(duration)} end
  local horizon = tonumber(t[1]) + tonumber(t[2]) / 1000000 - duration
  local nth = redis.call('LINDEX', key, limit - 1)
  if nth and tonumber(nth) > horizon then return {0, tostring(tonumber(nth) - horizon)} end
  local oldest = redis.call('LRANGE', key, -2, -1)
  local gone = 0
  for i = #oldest, 1, -1 do
    if tonumber(oldest[i]) > horizon then break end
    gone = gone + 1
  end
  if gone > 0 then redis.call('RPOP', key, gone) end
  redis.call('LPUSH', key, t[1] .. '.' .. string.format('%06d', t[2]))
  redis.call('PEXPIRE', key, math.ceil(duration * 1000))
  return {1, '0'}
end
"""

# KEYS[1] token entry. ARGV: epoch prefix, throttle key prefix (user id appended), limit
# ('': no throttle), duration. Returns {0} on a miss, else {1, entry, allowed, wait}.
AUTHENTICATE_SCRIPT = (
    _THROTTLE_LUA
    + """
local entry = redis.call('GET', KEYS[1])
if not entry then return {0} end
local fields = cjson.decode(entry)
if redis.call('GET', ARGV[1] .. fields['uid']) ~= fields['epoch'] then return {0} end
if ARGV[3] == '' then return {1, entry, 1, '0'} end
local verdict = throttle(
  ARGV[2] .. fields['uid'], tonumber(ARGV[3]), tonumber(ARGV[4]), redis.call('TIME'))
return {1, entry, verdict[1], verdict[2]}
"""
)

# KEYS: throttle keys. ARGV: limit and duration of each key.
# Returns allowed and wait of each key, flat.
THROTTLE_SCRIPT = (
    _THROTTLE_LUA
    + """
local t = redis.call('TIME')
local verdicts = {}
for i, key in ipairs(KEYS) do
  local verdict = throttle(key, tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i]), t)
  verdicts[2 * i - 1] = verdict[1]
  verdicts[2 * i] = verdict[2]
end
return verdicts
"""
)

# An epoch starts at a random 62-bit number, never at 0: if Redis lost the key (a restart,
# an eviction) and a change then recreated it, a small counter could come back to the value
# an old entry holds. A missing epoch matches no entry.
# KEYS: epoch. ARGV: a random start.
EPOCH_SCRIPT = """
local epoch = redis.call('GET', KEYS[1])
if epoch then return epoch end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""

# KEYS: token entry, epoch, hold. ARGV: epoch read before the database read, entry, ttl.
FILL_SCRIPT = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""

# KEYS: epoch, hold. ARGV: hold lifetime, a random start.
CHANGING_SCRIPT = """
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], ARGV[2], 'NX')
return redis.call('INCR', KEYS[1])
"""

# KEYS: epoch, hold.
CHANGED_SCRIPT = """
redis.call('INCR', KEYS[1])
if redis.call('DECR', KEYS[2]) <= 0 then redis.call('DEL', KEYS[2]) end
return 1
"""


class TokenCacheUnavailable(ServiceUnavailable):
    def __init__(self) -> None:
        super().__init__(
            "Signing out and changing accounts are unavailable right now (Redis is unreachable)."
        )


@dataclass(frozen=True)
class CachedToken:
    digest: str
    user_id: UUID
    username: str
    is_staff: bool
    is_superuser: bool
    expiry: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.expiry is not None and self.expiry <= now


# Named tuples, not frozen dataclasses, for what is made on every request: the same
# immutable records, built without a __setattr__ call per field.
class Verdict(NamedTuple):
    allowed: bool
    wait: float


class Hit(NamedTuple):
    token: CachedToken
    verdict: Verdict | None


class ThrottleRate(NamedTuple):
    """`limit` requests per `duration` seconds, counted under `key` (for the user throttle
    counted by `entry_authenticate`: the key without the user id, which the script appends)."""

    key: str
    limit: int
    duration: int


# Decoded once per distinct entry text: a signed-in client sends the same token on every
# request. Only the decoding is remembered; the entry itself is read (and its epoch
# checked by the script) on every request, so a revoked token still fails at once.
@functools.lru_cache(maxsize=4096)
def _decode(digest: str, raw: str) -> CachedToken:
    fields = orjson.loads(raw)
    expiry = fields["expiry"]
    return CachedToken(
        digest=digest,
        user_id=UUID(fields["uid"]),
        username=fields["username"],
        is_staff=fields["is_staff"],
        is_superuser=fields["is_superuser"],
        expiry=datetime.fromtimestamp(expiry, tz=UTC) if expiry is not None else None,
    )


def entry_authenticate(*, digest: str, user_rate: ThrottleRate | None) -> Hit | None:
    """The cached token for `digest` if its entry is current, counting the request against
    the user's throttle (`user_rate`, its key + the user id) in the same script. None on a
    miss. Raises RedisError."""
    reply = script_run(
        AUTHENTICATE_SCRIPT,
        keys=[TOKEN_PREFIX + digest],
        args=[
            EPOCH_PREFIX,
            user_rate.key if user_rate else "",
            user_rate.limit if user_rate else "",
            user_rate.duration if user_rate else "",
        ],
    )
    if not reply[0]:
        return None
    verdict = Verdict(allowed=bool(reply[2]), wait=float(reply[3])) if user_rate else None
    return Hit(token=_decode(digest, reply[1]), verdict=verdict)


def _random_epoch() -> int:
    return secrets.randbits(62)


def epoch_read(*, user_id: UUID) -> str:
    """The user's epoch, read before the database read that an `entry_fill` will store.
    Raises RedisError."""
    value = script_run(EPOCH_SCRIPT, keys=[f"{EPOCH_PREFIX}{user_id}"], args=[_random_epoch()])
    return str(value)


def entry_fill(*, token: CachedToken, epoch: str, now: datetime) -> bool:
    """Remembers a token just verified in the database, unless the user changed since
    `epoch` was read or is being changed. Never raises: the cache is only a shortcut."""
    ttl = settings.AUTH_TOKEN_CACHE_TTL
    if token.expiry is not None:
        ttl = min(ttl, int((token.expiry - now).total_seconds()))
    if ttl <= 0:
        return False
    entry = json.dumps(
        {
            "uid": str(token.user_id),
            "epoch": epoch,
            "username": token.username,
            "is_staff": token.is_staff,
            "is_superuser": token.is_superuser,
            "expiry": token.expiry.timestamp() if token.expiry else None,
        }
    )
    try:
        filled = script_run(
            FILL_SCRIPT,
            keys=[
                TOKEN_PREFIX + token.digest,
                f"{EPOCH_PREFIX}{token.user_id}",
                f"{HOLD_PREFIX}{token.user_id}",
            ],
            args=[epoch, entry, ttl],
        )
    except redis.RedisError as exc:
        logger.warning("token cache unreachable, not filled: %s", exc)
        return False
    return bool(filled)


def user_changing(*, user_id: Any) -> None:
    """Before a change that may make the database refuse the user's tokens: kills every
    cached entry of the user and holds off new ones. Raises TokenCacheUnavailable."""
    try:
        script_run(
            CHANGING_SCRIPT,
            keys=[f"{EPOCH_PREFIX}{user_id}", f"{HOLD_PREFIX}{user_id}"],
            args=[settings.AUTH_TOKEN_CACHE_HOLD, _random_epoch()],
        )
    except redis.RedisError as exc:
        logger.warning("token cache unreachable, change refused: %s", exc)
        raise TokenCacheUnavailable() from exc


def user_changed(*, user_id: Any) -> None:
    """After the change committed: entries filled from before the commit die, and fills
    may resume. A failure only leaves the hold up until it lapses (safe, slower)."""
    try:
        script_run(
            CHANGED_SCRIPT, keys=[f"{EPOCH_PREFIX}{user_id}", f"{HOLD_PREFIX}{user_id}"], args=[]
        )
    except redis.RedisError as exc:
        logger.warning("token cache unreachable after a change (hold lapses by itself): %s", exc)


def throttle_hit(*, rates: Sequence[ThrottleRate]) -> dict[str, Verdict]:
    """Counts one request against every one of `rates` in one round trip: each key's
    verdict. Raises RedisError."""
    args: list[Any] = []
    for rate in rates:
        args += [rate.limit, rate.duration]
    reply = script_run(THROTTLE_SCRIPT, keys=[rate.key for rate in rates], args=args)
    return {
        rate.key: Verdict(allowed=bool(reply[2 * i]), wait=float(reply[2 * i + 1]))
        for i, rate in enumerate(rates)
    }
