"""JSON rendering with orjson, byte for byte what DRF's JSONRenderer writes.

DRF encodes with the standard library's `json` and its own `JSONEncoder.default` for the
types JSON lacks. orjson writes the same compact, UTF-8 JSON several times faster; every
value it does not handle the same way (datetimes, dates and times, whose format DRF fixes:
`Z` for UTC; dataclasses; Decimals, lazy strings, sets...) goes through DRF's own `default`,
so the bytes do not change (tests/commerce_project/test_renderers.py). What orjson cannot
write at all (integers beyond 64 bits, non-string keys) and indented output (the browsable
API asks for it) is left to DRF's renderer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder as DrfJSONEncoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_DEFAULT = DrfJSONEncoder().default
# DRF escapes these two (valid JSON, but line terminators in JavaScript source).
_LINE_SEPARATOR, _PARAGRAPH_SEPARATOR = "\u2028".encode(), "\u2029".encode()


class JSONRenderer(renderers.JSONRenderer):
    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        if (
            self.ensure_ascii
            or not self.compact
            or self._indent(accepted_media_type, renderer_context)
        ):
            return super().render(data, accepted_media_type, renderer_context)
        try:
            rendered = orjson.dumps(data, default=_DEFAULT, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        if _LINE_SEPARATOR in rendered or _PARAGRAPH_SEPARATOR in rendered:
            rendered = rendered.replace(_LINE_SEPARATOR, b"\\u2028")
            rendered = rendered.replace(_PARAGRAPH_SEPARATOR, b"\\u2029")
        return rendered

    def _indent(
        self, accepted_media_type: str | None, renderer_context: Mapping[str, Any] | None
    ) -> int | None:
        """DRF's `get_indent`, which parses the media type's parameters (and raises and
        catches a KeyError) on every response even when it has none, as it almost always
        has: `application/json`."""
        if accepted_media_type and ";" in accepted_media_type:
            return self.get_indent(accepted_media_type, renderer_context or {})
        return (renderer_context or {}).get("indent")


class ProblemJSONRenderer(JSONRenderer):
    """Lets a client that accepts only `application/problem+json` (as RFC 9457 clients may)
    negotiate successfully instead of getting a 406 for every request. A success is still
    `application/json`, the one type the schema gives success answers: only problems are
    problem+json."""

    media_type = "application/problem+json"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code < 400:
            # DRF set Content-Type from the negotiated media type just before rendering
            response["Content-Type"] = "application/json"
        return super().render(data, accepted_media_type, renderer_context)
