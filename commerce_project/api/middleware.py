from __future__ import annotations

from django.http import HttpRequest
from django.middleware.common import CommonMiddleware as _DjangoCommonMiddleware


class CommonMiddleware(_DjangoCommonMiddleware):
    """Django's CommonMiddleware without APPEND_SLASH redirects under /api/: a redirect
    turns a POST into a GET in most clients (or, in DEBUG, a RuntimeError), so an API path
    without its slash is simply not found."""

    def should_redirect_with_slash(self, request: HttpRequest) -> bool:
        if request.path_info.startswith("/api/"):
            return False
        return super().should_redirect_with_slash(request)
