"""Token authentication: `Authorization: Bearer <token>` (or `Token <token>`, as before).

Tokens are django-rest-knox AuthTokens, found by their SHA-512 digest (the primary key),
through the Redis token cache first (accounts.token_cache): a hit costs no database query,
and counts the request against the user's throttle in the same round trip. A miss, or a
Redis that does not answer, verifies the token in PostgreSQL, which always has the last word:
nothing is taken from the cache that the database would refuse (see token_cache).
"""

from __future__ import annotations

import binascii
import logging

import redis
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework import HTTP_HEADER_ENCODING, exceptions
from rest_framework import views as drf_views  # a module: DRF's views import this one
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from commerce_project.rows import model_loaded

from . import token_cache
from .models import User
from .throttles import COUNTED, UserRateThrottle

logger = logging.getLogger(__name__)

_TOKEN_USER = AuthToken._meta.get_field("user")

KEYWORDS = (b"bearer", b"token")
# Knox tokens are 64 characters, the DRF tokens migrated from before 40; anything much
# longer is not a token and is not worth hashing.
MAX_TOKEN_LENGTH = 128


def _invalid(message: str = "Invalid token.") -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(message)


def _user_from(cached: token_cache.CachedToken) -> User:
    """The user as the cache knows it; any other field is loaded on first use (deferred)."""
    user = model_loaded(
        User,
        {
            "id": cached.user_id,
            "username": cached.username,
            "is_staff": cached.is_staff,
            "is_superuser": cached.is_superuser,
            "is_active": True,  # an inactive user is never cached
        },
        replays_from_db=True,
    )
    # As User.from_db does: a later save compares the sign-in fields against these.
    user._auth_snapshot = user._auth_state()
    return user


def _token_from(cached: token_cache.CachedToken, user: User) -> AuthToken:
    token = model_loaded(
        AuthToken, {"digest": cached.digest, "user_id": cached.user_id, "expiry": cached.expiry}
    )
    # `token.user = user` without the descriptor's checks: user_id is already the user's.
    _TOKEN_USER.set_cached_value(token, user)
    return token


def _cached(token: AuthToken) -> token_cache.CachedToken:
    user = token.user
    return token_cache.CachedToken(
        digest=token.digest,
        user_id=user.pk,
        username=user.username,
        is_staff=user.is_staff,
        is_superuser=user.is_superuser,
        expiry=token.expiry,
    )


def _user_rate(request: Request) -> token_cache.ThrottleRate | None:
    """The user throttle of the view being served, to count in the cache's round trip."""
    view = (getattr(request, "parser_context", None) or {}).get("view")
    if view is None:
        return None
    if type(view).get_throttles is not drf_views.APIView.get_throttles:
        throttles = view.get_throttles()  # the view decides per request
    else:
        # DRF's: one instance of each class. The rate only depends on the class and its
        # rate setting, so it is worked out once for each (DRF instantiates them anew for
        # the check itself).
        throttles = view.throttle_classes
    for throttle in throttles:
        if isinstance(throttle, UserRateThrottle):
            return throttle.user_rate()
        if isinstance(throttle, type) and issubclass(throttle, UserRateThrottle):
            return _class_user_rate(throttle, _rate_setting(throttle))
    return None


def _rate_setting(throttle: type[UserRateThrottle]) -> str | None:
    return getattr(throttle, "rate", None) or throttle.THROTTLE_RATES.get(throttle.scope or "")


# (throttle class, its rate setting) -> the user rate: a few classes, a few settings.
_class_rates: dict[tuple[type[UserRateThrottle], str | None], token_cache.ThrottleRate | None] = {}


def _class_user_rate(
    throttle: type[UserRateThrottle], rate: str | None
) -> token_cache.ThrottleRate | None:
    """`rate` (the class's setting) is part of the key: a changed setting is read anew."""
    key = (throttle, rate)
    if key not in _class_rates:
        _class_rates[key] = throttle().user_rate()
    return _class_rates[key]


def _authorization_header(request: Request) -> bytes:
    """DRF's `get_authorization_header`, read from the WSGI environ: `request.headers`
    would copy every header of the request into a new mapping first."""
    auth = request._request.META.get("HTTP_AUTHORIZATION", b"")
    return auth.encode(HTTP_HEADER_ENCODING) if isinstance(auth, str) else auth


class TokenAuthentication(BaseAuthentication):
    def authenticate_header(self, request: Request) -> str:
        return "Bearer"

    def authenticate(self, request: Request) -> tuple[User, AuthToken] | None:
        auth = _authorization_header(request).split()
        if not auth or auth[0].lower() not in KEYWORDS:
            return None  # another scheme, or none
        if len(auth) == 1:
            raise _invalid("Invalid token header. No credentials provided.")
        if len(auth) > 2:
            raise _invalid("Invalid token header. Token string should not contain spaces.")
        try:
            token = auth[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise _invalid() from exc
        if len(token) > MAX_TOKEN_LENGTH:
            raise _invalid()
        try:
            digest = hash_token(token)
        except (TypeError, binascii.Error) as exc:
            raise _invalid() from exc
        return self._authenticate_digest(request, digest)

    def _authenticate_digest(self, request: Request, digest: str) -> tuple[User, AuthToken]:
        user_rate = _user_rate(request)
        now = timezone.now()
        try:
            hit = token_cache.entry_authenticate(digest=digest, user_rate=user_rate)
        except redis.RedisError as exc:
            logger.warning("token cache unreachable, verifying in the database: %s", exc)
            return self._from_database(digest, fill=False)
        if hit is None or hit.token.expired(now):
            return self._from_database(digest, fill=True)
        if hit.verdict is not None and user_rate is not None:
            setattr(request, COUNTED, {f"{user_rate.key}{hit.token.user_id}": hit.verdict})
        user = _user_from(hit.token)
        return user, _token_from(hit.token, user)

    def _from_database(self, digest: str, *, fill: bool) -> tuple[User, AuthToken]:
        token = self._verified(digest)
        if not fill:
            return token.user, token
        try:
            # Read before the database read whose result is cached: see token_cache.
            epoch = token_cache.epoch_read(user_id=token.user_id)
        except redis.RedisError:
            return token.user, token
        token = self._verified(digest)
        token_cache.entry_fill(token=_cached(token), epoch=epoch, now=timezone.now())
        return token.user, token

    def _verified(self, digest: str) -> AuthToken:
        token = AuthToken.objects.select_related("user").filter(digest=digest).first()
        if token is None:
            raise _invalid()
        if token.expiry is not None and token.expiry <= timezone.now():
            # Expired: no cache entry can outlive it (the expiry is checked on every hit).
            token.delete()
            raise _invalid()
        if not token.user.is_active:
            raise _invalid("User inactive or deleted.")
        return token
