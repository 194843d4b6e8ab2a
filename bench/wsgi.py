"""The benchmark server's WSGI application: the project's, except for BARE_PATH, which a
Django handler without any middleware serves (the bare DRF baseline of bench/http.py must
cost what DRF alone costs: no middleware, no authentication, no throttling)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

from commerce_project.wsgi import application as project

BARE_PATH = "/bench/bare/"


class NoMiddlewareHandler(WSGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        self._middleware_chain = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]


bare = NoMiddlewareHandler()


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == BARE_PATH:
        return bare(environ, start_response)
    return project(environ, start_response)
