"""DRF's content negotiation, its answer remembered per Accept header.

Every response negotiates its renderer: DRF parses the Accept header into media types and
matches them against the view's renderers, about 5 % of a request that does nothing else.
Clients send the same few headers (`application/json`, `*/*`...) on every request, so the
choice (which of the renderers, and the media type) is remembered per header, query
format and renderer classes; the first request with a header negotiates as DRF does, and
so does every failure (406, 404 for an unknown format), which is never remembered. The
memory is bounded: long headers are not remembered at all, and the table is emptied when
it fills up (client input must not grow it without limit).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

MAX_REMEMBERED = 256
MAX_HEADER_LENGTH = 200

_Key = tuple[str, str | None, tuple[tuple[type[BaseRenderer], str, str], ...]]
_choices: dict[_Key, tuple[int, str]] = {}


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        renderers = renderers if isinstance(renderers, list) else list(renderers)
        meta = request._request.META
        accept = meta.get("HTTP_ACCEPT", "*/*")
        if len(accept) > MAX_HEADER_LENGTH:
            return self._negotiate(request, renderers, format_suffix)
        parameter = self.settings.URL_FORMAT_OVERRIDE
        # Without a query string there is no format parameter: not worth parsing one (the
        # query dict is built on first use, and most requests never use it otherwise).
        has_query = bool(meta.get("QUERY_STRING"))
        query_format = request.query_params.get(parameter) if parameter and has_query else None
        key: _Key = (
            accept,
            format_suffix or query_format,
            tuple((type(r), r.media_type, r.format) for r in renderers),
        )
        choice = _choices.get(key)
        if choice is not None:
            index, media_type = choice
            return renderers[index], media_type
        renderer, media_type = self._negotiate(request, renderers, format_suffix)
        index = next(i for i, candidate in enumerate(renderers) if candidate is renderer)
        if len(_choices) >= MAX_REMEMBERED:
            _choices.clear()
        _choices[key] = (index, media_type)
        return renderer, media_type

    def _negotiate(
        self, request: Request, renderers: Sequence[Any], format_suffix: str | None
    ) -> tuple[BaseRenderer, str]:
        renderer, media_type = super().select_renderer(request, renderers, format_suffix)
        return renderer, media_type
