"""The API lane: a request under /api/ without cookies and without an Origin header (a token
client or an anonymous one, almost always) gets what the browser middleware would give it,
without going through their layers.

Below `ApiLaneMiddleware` sit the middleware that exist for browsers: CORS, security headers,
sessions, host and slash checks, CSRF, the session user, messages and frame options (and
WhiteNoise in production). For a lane request all they do is check the Host header and add a
few headers, yet each is a layer with hooks written for every case: together about a fifth
of a token request's CPU before the view ran.

For a lane request the middleware does that work itself, then calls the layer right after
the group (found once, when Django builds the chain):

- the Host header is validated as CommonMiddleware does;
- the headers are added as the layers would add them, from the same settings: X-Frame-Options
  (unless the view is exempt), the CSRF cookie when the view asked for one, Content-Length,
  HSTS over HTTPS, X-Content-Type-Options, Referrer-Policy, Cross-Origin-Opener-Policy, and
  CORS' `Vary: origin`, the only header django-cors-headers adds without an Origin;
- sessions, the session user and messages are left out: without a cookie they pass a request
  under /api/ on untouched (session_only), and WhiteNoise serves /static/ only. So is
  CsrfViewMiddleware's request hook, which only reads the CSRF cookie; its view hook runs
  as for any request, from the handler.

A lane request goes through the layers after all whenever they could answer it themselves: a
redirect to HTTPS, a Host header that is not allowed (the 400 comes from the layers), refused
user agents or PREPEND_WWW configured. OPTIONS requests are never in the lane
(django-cors-headers may answer a preflight). Every other request goes through every layer.

The test client builds the same middleware chain, so the whole test suite runs the lane for
its token and anonymous API requests; tests/commerce_project/test_api_lane.py compares the two
paths response by response.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost, ImproperlyConfigured
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.cache import patch_vary_headers

from commerce_project.api import session_only
from commerce_project.api.cors import CorsMiddleware

API_PREFIX = "/api/"

Handler = Callable[[HttpRequest], HttpResponseBase]

# The group below the lane middleware: what the lane does in their place, by class.
_DONE_BY_THE_LANE = (
    CorsMiddleware,
    SecurityMiddleware,
    session_only.SessionMiddleware,
    "commerce_project.api.middleware.CommonMiddleware",
    CsrfViewMiddleware,
    session_only.AuthenticationMiddleware,
    session_only.MessageMiddleware,
    XFrameOptionsMiddleware,
)
_PASSING = frozenset({"whitenoise.middleware.WhiteNoiseMiddleware"})
_DRF_VARY = "Accept"


def in_lane(request: HttpRequest) -> bool:
    meta = request.META
    return (
        request.path_info.startswith(API_PREFIX)
        and not meta.get("HTTP_COOKIE")
        and not meta.get("HTTP_ORIGIN")
        and request.method != "OPTIONS"
    )


def _layers(get_response: Any) -> Iterator[tuple[Any, Any]]:
    """(layer, middleware instance) from `get_response` inwards: Django wraps every
    middleware in `convert_exception_to_response`, whose wrapper keeps it as `__wrapped__`."""
    layer = get_response
    while (instance := getattr(layer, "__wrapped__", None)) is not None:
        yield layer, instance
        layer = getattr(instance, "get_response", None)


def _path(kind: Any) -> str:
    return kind if isinstance(kind, str) else f"{kind.__module__}.{kind.__qualname__}"


class ApiLaneMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        expected = [_path(kind) for kind in _DONE_BY_THE_LANE]
        found: dict[str, Any] = {}
        after = None
        for layer, instance in _layers(get_response):
            name = _path(type(instance))
            if name in _PASSING:
                continue
            if name not in expected:
                after = layer
                break
            found[name] = instance
        if after is None or list(found) != expected:
            raise ImproperlyConfigured(
                "ApiLaneMiddleware must come right before these middleware, in this order: "
                + ", ".join(expected)
            )
        self._after: Handler = after
        self._cors: CorsMiddleware = found[_path(CorsMiddleware)]
        self._csrf: CsrfViewMiddleware = found[_path(CsrfViewMiddleware)]
        self._xframe: XFrameOptionsMiddleware = found[_path(XFrameOptionsMiddleware)]
        security: SecurityMiddleware = found[_path(SecurityMiddleware)]
        self._https_redirect: bool = security.redirect
        self._hsts: str | None = _hsts(security)
        self._security_headers = _security_headers(security)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not in_lane(request) or self._left_to_the_layers(request):
            return self.get_response(request)
        response = self._after(request)
        headers = response.headers
        # In the order the layers would add them on the way out, innermost first.
        if "X-Frame-Options" not in headers and not getattr(
            response, "xframe_options_exempt", False
        ):
            headers["X-Frame-Options"] = self._xframe.get_xframe_options_value(
                request,
                response,  # type: ignore[arg-type]
            )
        response = self._csrf.process_response(request, response)
        if not response.streaming and "Content-Length" not in headers:
            headers["Content-Length"] = str(len(response.content))  # type: ignore[attr-defined]
        if self._hsts and "Strict-Transport-Security" not in headers and request.is_secure():
            headers["Strict-Transport-Security"] = self._hsts
        for name, value in self._security_headers:
            if name not in headers:
                headers[name] = value
        if self._cors.is_enabled(request):
            if headers.get("Vary") == _DRF_VARY:
                headers["Vary"] = f"{_DRF_VARY}, origin"  # what patch_vary_headers makes of it
            else:
                patch_vary_headers(response, ("origin",))
        return response

    def _left_to_the_layers(self, request: HttpRequest) -> bool:
        """Whether the layers could answer this request themselves."""
        if settings.DISALLOWED_USER_AGENTS or settings.PREPEND_WWW:
            return True
        if self._https_redirect and not request.is_secure():
            return True
        try:
            request.get_host()
        except DisallowedHost:
            return True
        return False


def _hsts(security: SecurityMiddleware) -> str | None:
    """SecurityMiddleware's Strict-Transport-Security value (sent over HTTPS only)."""
    if not security.sts_seconds:
        return None
    value = f"max-age={security.sts_seconds}"
    if security.sts_include_subdomains:
        value += "; includeSubDomains"
    if security.sts_preload:
        value += "; preload"
    return value


def _security_headers(security: Any) -> list[tuple[str, str]]:
    """The headers SecurityMiddleware adds to every response that lacks them (from the
    instance: django-stubs does not know its policy attributes)."""
    headers = []
    if security.content_type_nosniff:
        headers.append(("X-Content-Type-Options", "nosniff"))
    policy = security.referrer_policy
    if policy:
        parts = [v.strip() for v in policy.split(",")] if isinstance(policy, str) else policy
        headers.append(("Referrer-Policy", ",".join(parts)))
    if security.cross_origin_opener_policy:
        headers.append(("Cross-Origin-Opener-Policy", security.cross_origin_opener_policy))
    return headers
