from uuid import UUID

import pytest
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path, re_path, resolve, reverse

from commerce_project import urls
from commerce_project.api.routing import app_include, literal_prefixes

ORDER = UUID(int=7)
CART = "c" * 32


def _view(request: HttpRequest) -> HttpResponse:
    raise AssertionError("never called")


def test_prefixes_are_read_from_routes_and_anchored_regexes() -> None:
    # given route and regex patterns, one nested under an empty include
    patterns: list[URLPattern | URLResolver] = [
        path("orders/<uuid:order_id>/", _view),
        re_path(r"^products\.(?P<format>[a-z]+)/?$", _view),
        path("", include([path("feed/", _view)])),
    ]
    # when / then
    assert literal_prefixes(patterns) == ("orders/", "products", "feed/")


@pytest.mark.parametrize(
    "pattern",
    [
        path("<str:anything>/", _view),
        re_path(r"products/$", _view),  # not anchored: matches anywhere
        re_path(r"^x/|^y/$", _view),  # alternatives
        re_path(r"^o?rders/$", _view),  # an optional first character
        path("", _view),
    ],
)
def test_no_prefix_when_a_pattern_can_match_without_one(pattern: URLPattern) -> None:
    assert literal_prefixes([pattern, path("orders/", _view)]) is None


@pytest.mark.parametrize(
    ("name", "kwargs", "route"),
    [
        ("api-root", {}, "api/v1/"),
        ("product-list", {}, "api/v1/products/$"),
        ("cart-detail", {"session_id": CART}, "api/v1/carts/<cart_sid:session_id>/"),
        ("cart-items", {"session_id": CART}, "api/v1/carts/<cart_sid:session_id>/items/"),
        ("order-list", {}, "api/v1/orders/"),
        ("order-detail", {"order_id": ORDER}, "api/v1/orders/<uuid:order_id>/"),
        ("saga-detail", {"saga_id": str(ORDER)}, "api/v1/sagas/(?P<saga_id>[^/.]+)/$"),
        ("feed", {}, "api/v1/feed/"),
    ],
)
def test_api_urls_reverse_and_resolve_as_before(
    name: str, kwargs: dict[str, object], route: str
) -> None:
    # when an API URL is reversed and resolved again
    url = reverse(name, kwargs=kwargs)
    match = resolve(url)
    # then it is the same route, the same name and the same arguments
    assert match.route == route
    assert match.url_name == name
    assert match.kwargs == kwargs


def test_every_app_mount_declines_paths_of_other_apps() -> None:
    # given the app mounts of the API (all at the empty route)
    mounts = [entry for entry in urls.api_v1 if isinstance(entry, URLResolver)]
    prefixed = [m for m in mounts if str(m.pattern) == "" and m.pattern.match("x") is None]
    # then each of the five app mounts has prefixes to decline on
    assert len(prefixed) == 5
    assert all(m.pattern.match("no-such-thing/") is None for m in prefixed)


def test_a_mount_without_prefixes_is_tried_for_every_path() -> None:
    # given a mount whose module has a catch-all pattern
    mount = app_include("tests.commerce_project.urls_catch_all")
    # then it matches any path, as path("", include(...)) would
    assert mount.pattern.match("anything/") == ("anything/", (), {})
