"""`app_include`: an app's API URLs mounted at the empty route, as `path("", include(...))`
does, but tried only for paths that can match them.

The API mounts every app's URLs under `api/v1/` at the empty route, so Django tried each
app in turn for every request: an order detail walked the product router's and the cart
routes' regexes (and built a 404 for each app that did not match) before reaching the
orders, about a tenth of the request. Here each mount knows the literal prefixes its
patterns start with (`products`, `carts/`...), read from the patterns themselves, and
declines any other path at once. Reversing, the schema and the patterns' order are exactly
as before (the route is still ""); a mount whose patterns cannot be reduced to literal
prefixes (one matching anything) falls back to being tried for every path.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any

from django.urls import ResolverMatch, URLPattern, URLResolver, include
from django.urls.resolvers import RegexPattern, RoutePattern

# How many paths a remembering resolver keeps the match of: every fixed path of the API
# and the detail paths of the orders, carts and products clients are following.
REMEMBERED_PATHS = 4096
# Longer paths are resolved every time: the API's longest (an order line) is about 100
# characters, and a caller must not fill the cache with kilobyte-long paths that some
# pattern accepts (DRF routers' ids match any text up to a slash).
REMEMBERED_PATH_LENGTH = 160

# What a pattern's path starts with before its first converter, group or metacharacter.
_LITERAL = re.compile(r"[A-Za-z0-9_\-/]*")


def _prefix(pattern: Any) -> str | None:
    """The literal text every path this pattern matches starts with, None if unknown."""
    if isinstance(pattern, RoutePattern):
        return str(pattern).split("<", 1)[0]  # route regexes are anchored at the start
    if isinstance(pattern, RegexPattern):
        regex = pattern.regex.pattern
        if not regex.startswith("^") or "|" in regex:
            return None  # unanchored or with alternatives: could start with anything
        literal = _LITERAL.match(regex, 1)
        text = literal.group() if literal else ""
        if regex[1 + len(text) : 2 + len(text)] in ("?", "*", "{"):
            text = text[:-1]  # the last character is optional
        return text
    return None


def literal_prefixes(patterns: Iterable[URLPattern | URLResolver]) -> tuple[str, ...] | None:
    """The prefixes one of which every path the patterns match starts with; None when a
    pattern can match a path without a literal start (nothing to decline on)."""
    found: list[str] = []
    for entry in patterns:
        prefix = _prefix(entry.pattern)
        if prefix is None:
            return None
        if prefix == "" and isinstance(entry, URLResolver):
            nested = literal_prefixes(entry.url_patterns)
            if nested is None:
                return None
            found.extend(nested)
        elif prefix == "":
            return None
        else:
            found.append(prefix)
    return tuple(dict.fromkeys(found))


class _AppRoute(RoutePattern):
    """The empty route, matching (and consuming nothing of) a path that starts with one of
    the included patterns' literal prefixes, worked out on first use."""

    def __init__(self) -> None:
        super().__init__("", is_endpoint=False)
        self.mount: URLResolver | None = None  # set by app_include
        self._prefixes: tuple[str, ...] | None = None
        self._known = False

    def match(self, path: str) -> tuple[str, tuple[()], dict[str, Any]] | None:
        if not self._known:
            assert self.mount is not None
            # The included module's patterns, read on first use like Django reads them.
            self._prefixes = literal_prefixes(self.mount.url_patterns)
            self._known = True
        if self._prefixes is None or path.startswith(self._prefixes):
            return path, (), {}
        return None


def app_include(module: str) -> URLResolver:
    """`path("", include(module))`, tried only for the paths the module's patterns can
    match (see the module docstring)."""
    urlconf_module, app_name, namespace = include(module)
    pattern = _AppRoute()
    pattern.mount = URLResolver(pattern, urlconf_module, app_name=app_name, namespace=namespace)
    return pattern.mount


class _RememberingResolver(URLResolver):
    """A URLResolver that remembers what it resolved each path to, for the last
    REMEMBERED_PATHS paths it resolved (a 404 is never remembered, nor a path longer than
    REMEMBERED_PATH_LENGTH).

    Resolving walks the patterns in order, raising and catching a Resolver404 at every
    include that does not match and building a ResolverMatch at every level that does: an
    order detail cost about 27 µs of CPU, a tenth of the request. What a path resolves to
    depends on the path and the patterns only, and the patterns of a resolver never change
    (a new URLconf makes new resolvers), so the answer for a path seen before is the same
    ResolverMatch. It is shared: the resolver above builds a new match around it for each
    request, with its own copy of the arguments, and nothing in Django, DRF or here
    changes a match once made. Of the patterns tried on the way (`tried`, which only
    Django's debug 404 page reads, and for paths that did not match), a remembered match
    keeps the one that matched: each resolver above copies the list again."""

    def resolve(self, path: str) -> ResolverMatch:
        path = str(path)
        if len(path) > REMEMBERED_PATH_LENGTH:
            return super().resolve(path)
        return self._remembered(path)

    @functools.cached_property
    def _remembered(self) -> Callable[[str], ResolverMatch]:
        @functools.lru_cache(maxsize=REMEMBERED_PATHS)
        def resolved(path: str) -> ResolverMatch:
            match = URLResolver.resolve(self, path)
            match.tried = (match.tried or [])[-1:]
            return match

        return resolved


def remembering_include(route: str, patterns: list[URLPattern | URLResolver]) -> URLResolver:
    """`path(route, include(patterns))` whose resolutions are remembered (see above)."""
    return _RememberingResolver(RoutePattern(route, is_endpoint=False), patterns)
