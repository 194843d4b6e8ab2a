"""The session-based middleware, skipped for token clients of the API.

Sessions, the session user and messages exist for the admin and the browsable API, that
is for a browser holding a session cookie. A request under /api/ without that cookie (a
token client, an anonymous one) has no session to load, no session user to find and no
messages to show: the three middleware would only cost time on every API call. DRF
authenticates such a request itself and sets `request.user` from its result. Django's CSRF
middleware stays as it is: it does nothing for DRF's views (csrf_exempt; DRF checks CSRF
itself for session-authenticated requests) and `check --deploy` looks for it by name.

Each class here is Django's own (so the admin's system checks still find it) and runs
exactly as Django's for every other request: any path outside /api/, and any request with
a session cookie.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest, HttpResponseBase

API_PREFIX = "/api/"


# The answer of `without_session`, kept on the request: the three middleware ask in turn.
_DECIDED = "_api_without_session"


def without_session(request: HttpRequest) -> bool:
    """True for an API request that carries no session cookie."""
    decided: bool | None = getattr(request, _DECIDED, None)
    if decided is None:
        decided = request.path_info.startswith(API_PREFIX) and (
            settings.SESSION_COOKIE_NAME not in request.COOKIES
        )
        setattr(request, _DECIDED, decided)
    return decided


class _SkippedWithoutSession:
    """Mixed into a `MiddlewareMixin` subclass: passes a request without a session straight
    on to the next layer; runs the middleware in full otherwise."""

    get_response: Any

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if without_session(request):
            return self.get_response(request)
        return super().__call__(request)  # type: ignore[misc]


class SessionMiddleware(_SkippedWithoutSession, sessions.SessionMiddleware):
    pass


class AuthenticationMiddleware(_SkippedWithoutSession, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(_SkippedWithoutSession, messages.MessageMiddleware):
    pass
