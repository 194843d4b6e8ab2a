"""django-cors-headers' middleware, answering a request without an Origin header from the
WSGI environ.

Only browsers send Origin, so for every other client (the mobile apps, servers, scripts)
the library's answer is the same and needs no more than the Vary header: it adds `Vary:
origin` to the responses of the paths CORS covers and stops. It reads the header through
`request.headers`, which copies every header of the request into a new mapping; nothing
else on a token request's path needs that mapping. A request with an Origin header goes
through the library unchanged.
"""

from __future__ import annotations

from corsheaders import middleware
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.cache import patch_vary_headers


class CorsMiddleware(middleware.CorsMiddleware):
    def add_response_headers(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if request.META.get("HTTP_ORIGIN"):
            return super().add_response_headers(request, response)
        # What the library does for a request without an Origin.
        enabled = getattr(request, "_cors_enabled", None)
        if enabled is None:
            enabled = self.is_enabled(request)
        if enabled:
            patch_vary_headers(response, ("origin",))
        return response
