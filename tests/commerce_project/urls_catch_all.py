"""A URLconf with a catch-all pattern, for tests/commerce_project/test_routing.py."""

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path


def _anything(request: HttpRequest, anything: str) -> HttpResponse:
    return HttpResponse(anything)


urlpatterns: list[URLPattern] = [path("<path:anything>", _anything)]
