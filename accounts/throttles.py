"""Login throttles for POST auth/token/: a budget per client address and one per username,
so neither many guesses from one place nor one account guessed from many places gets far.

The client address is DRF's `get_ident`: the connection's address, or the X-Forwarded-For
entry that the NUM_PROXIES trusted proxies in front of the service appended (0 by default:
the header is the client's own and is ignored). Rates: THROTTLE_LOGIN_ADDRESS_RATE and
THROTTLE_LOGIN_USERNAME_RATE. Like every throttle here they fail open when Redis is down.
"""

from __future__ import annotations

import hashlib
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class LoginAddressThrottle(SimpleRateThrottle):
    scope = "login_address"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameThrottle(SimpleRateThrottle):
    scope = "login_username"

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
