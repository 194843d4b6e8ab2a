"""The API's throttles, counted in Redis by one Lua script keeping DRF's sliding log (as a
list of the allowed requests' times, never longer than the rate's count) — all of a view's
throttles in one round trip — and failing open when Redis is down:

- `UserRateThrottle` (THROTTLE_USER_RATE): per user when signed in, else per client address;
  for a token request its count is taken in the token cache's round trip
  (accounts.authentication), so an authenticated request costs one Redis round trip in all.
- `AnonRateThrottle` (THROTTLE_ANON_RATE): per client address, anonymous requests only.

Login throttles for POST auth/token/: a budget per client address and one per username,
so neither many guesses from one place nor one account guessed from many places gets far.

The username budget counts failed attempts only (the view records them): a customer who
signs in on several devices never uses it up, and a successful sign-in is not a guess.
Someone who knows a username can still spend its budget with wrong passwords and delay that
account's sign-ins for up to the rate's window; that is the price of stopping a guesser who
spreads over many addresses, and why the rate is per minute, not a lockout.

The client address is DRF's `get_ident` (as `client_ident`, read from the environ): the
connection's address, or the X-Forwarded-For entry that the NUM_PROXIES trusted proxies in
front of the service appended (0 by default: the header is the client's own and is
ignored). Rates: THROTTLE_LOGIN_ADDRESS_RATE and THROTTLE_LOGIN_USERNAME_RATE. Like every
throttle here they fail open when Redis is down.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import redis
from rest_framework import throttling
from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from . import token_cache

logger = logging.getLogger(__name__)

# The request attribute holding {throttle key: verdict} of the counts already taken for this
# request: by authentication (the user's, in the token cache's round trip) or by the first
# scripted throttle the view checked (all of the view's scripted throttles at once).
COUNTED = "_counted_throttles"
# None: Redis did not answer, the request is let through.
Counted = dict[str, token_cache.Verdict | None]


_IDENT = "_throttle_client_ident"


def client_ident(request: Request) -> str | None:
    """DRF's `get_ident` (the client address), read from the WSGI environ and worked out once
    per request: DRF's reads `request.headers`, which copies every header of the request
    into a new mapping, and every throttle of a view asks for it twice."""
    known = request._request.__dict__
    if _IDENT in known:
        ident: str | None = known[_IDENT]
        return ident
    meta = request._request.META
    xff: str | None = meta.get("HTTP_X_FORWARDED_FOR")
    remote_addr: str | None = meta.get("REMOTE_ADDR")
    num_proxies = api_settings.NUM_PROXIES
    if num_proxies is not None:
        if num_proxies == 0 or xff is None:
            ident = remote_addr
        else:
            addrs = xff.split(",")
            ident = addrs[-min(num_proxies, len(addrs))].strip()
    else:
        ident = "".join(xff.split()) if xff else remote_addr
    known[_IDENT] = ident
    return ident


# (throttle class, rate text) -> (requests, seconds): a few classes, a few settings.
_parsed_rates: dict[tuple[type[SimpleRateThrottle], str | None], tuple[int | None, int | None]] = {}


class ScriptedRateThrottle(SimpleRateThrottle):
    """DRF's rate, scope and ident, counted by one Redis script instead of a get and a set;
    all the view's scripted throttles in one round trip. The log is a Redis list of its own
    (token_cache's _THROTTLE_LUA), under a name no earlier kind of log used: processes of
    an older release still running beside this one keep counting in theirs instead of
    failing on a key of another type."""

    cache_format = "throttle_log_%(scope)s_%(ident)s"
    _wait: float | None = None
    # Set by __init__ from the rate (None when the scope has no rate).
    num_requests: int | None
    duration: int | None

    def __init__(self) -> None:
        """SimpleRateThrottle's, with the rate text parsed once per class and text: DRF
        makes every throttle anew for every request."""
        if not getattr(self, "rate", None):
            self.rate = self.get_rate()
        key = (type(self), self.rate)
        parsed = _parsed_rates.get(key)
        if parsed is None:
            parsed = _parsed_rates[key] = self.parse_rate(self.rate)
        self.num_requests, self.duration = parsed

    def get_ident(self, request: Request) -> str | None:  # type: ignore[override]
        return client_ident(request)

    def rate_for(self, request: Request, view: Any) -> token_cache.ThrottleRate | None:
        if self.rate is None or self.num_requests is None or self.duration is None:
            return None
        key = self.get_cache_key(request, view)
        if key is None:
            return None
        return token_cache.ThrottleRate(key=key, limit=self.num_requests, duration=self.duration)

    def allow_request(self, request: Request, view: Any) -> bool:
        rate = self.rate_for(request, view)
        if rate is None:
            return True
        counted: Counted = getattr(request, COUNTED, None) or {}
        if rate.key not in counted:
            counted = {**counted, **_count_the_views_throttles(request, view, counted)}
            setattr(request, COUNTED, counted)
        verdict = counted.get(rate.key)
        if verdict is None:
            return True  # Redis did not answer: fail open
        self._wait = verdict.wait
        return verdict.allowed

    def wait(self) -> float | None:
        return self._wait


def _count_the_views_throttles(request: Request, view: Any, counted: Counted) -> Counted:
    rates = {
        rate.key: rate
        for throttle in view.get_throttles()
        if isinstance(throttle, ScriptedRateThrottle)
        and (rate := throttle.rate_for(request, view)) is not None
        and rate.key not in counted
    }
    if not rates:
        return {}
    try:
        return dict(token_cache.throttle_hit(rates=list(rates.values())))
    except redis.RedisError as exc:
        logger.warning("throttle store unreachable, request allowed: %s", exc)
        return dict.fromkeys(rates)  # not asked again for this request


class UserRateThrottle(ScriptedRateThrottle, throttling.UserRateThrottle):
    def user_rate(self) -> token_cache.ThrottleRate | None:
        """The rate of a signed-in user's key, without the user id (the cache appends it)."""
        if self.num_requests is None or self.duration is None:
            return None
        key = self.cache_format % {"scope": self.scope, "ident": ""}
        return token_cache.ThrottleRate(key=key, limit=self.num_requests, duration=self.duration)


class AnonRateThrottle(ScriptedRateThrottle, throttling.AnonRateThrottle):
    pass


class LoginAddressThrottle(SimpleRateThrottle):
    scope = "login_address"

    def get_ident(self, request: Request) -> str | None:  # type: ignore[override]
        return client_ident(request)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameThrottle(SimpleRateThrottle):
    scope = "login_username"

    def throttle_success(self) -> bool:
        return True  # only a failure counts: see record_failure

    def record_failure(self, request: Request, view: Any) -> None:
        """Counts a failed sign-in against the username's budget."""
        key = self.get_cache_key(request, view)
        if key is None or self.rate is None:
            return
        _, duration = self.parse_rate(self.rate)
        if duration is None:
            return
        now = self.timer()
        history = [t for t in self.cache.get(key, []) if t > now - duration]
        self.cache.set(key, [now, *history], duration)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        try:
            username = request.data.get("username") if hasattr(request.data, "get") else None
        except ParseError:
            return None  # the view answers the malformed body; the address budget counts it
        if not isinstance(username, str) or not username.strip():
            return None
        # Usernames are unique case-insensitively; hashed so any text makes a safe key.
        ident = hashlib.sha256(username.strip().casefold().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}
