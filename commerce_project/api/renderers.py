from collections.abc import Mapping
from typing import Any

from rest_framework.renderers import JSONRenderer


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
