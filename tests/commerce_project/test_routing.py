from uuid import UUID

import pytest
from django.http import HttpRequest, HttpResponse
from django.urls import (
    Resolver404,
    URLPattern,
    URLResolver,
    include,
    path,
    re_path,
    resolve,
    reverse,
)

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


def _plain(resolver: URLResolver) -> URLResolver:
    """The same patterns behind Django's own resolver, which remembers nothing."""
    return URLResolver(resolver.pattern, resolver.urlconf_name)


API_PATHS = [
    "",
    "products/",
    f"carts/{CART}/",
    f"carts/{CART}/items/",
    "orders/",
    f"orders/{ORDER}/",
    f"orders/{ORDER}/items/{UUID(int=9)}/",
    f"sagas/{ORDER}/",
    "feed/",
    "auth/token/",
]


@pytest.mark.parametrize("api_path", API_PATHS)
def test_the_api_resolver_answers_as_djangos_own_every_time(api_path: str) -> None:
    remembering = urls.urlpatterns[0]
    assert isinstance(remembering, URLResolver)
    path_ = f"api/v1/{api_path}"
    expected = _plain(remembering).resolve(path_)
    for _ in range(2):  # resolved, then remembered
        match = remembering.resolve(path_)
        assert (match.func, match.args, match.kwargs) == (
            expected.func,
            expected.args,
            expected.kwargs,
        )
        assert (match.url_name, match.route, match.namespaces) == (
            expected.url_name,
            expected.route,
            expected.namespaces,
        )
        assert match.tried == expected.tried[-1:]


def test_a_path_that_resolves_nowhere_is_not_remembered() -> None:
    remembering = urls.urlpatterns[0]
    assert isinstance(remembering, URLResolver)
    before = remembering._remembered.cache_info().currsize  # type: ignore[attr-defined]
    for n in range(3):
        with pytest.raises(Resolver404):
            remembering.resolve(f"api/v1/no-such-thing-{n}/")
    assert remembering._remembered.cache_info().currsize == before  # type: ignore[attr-defined]


def test_each_request_gets_its_own_arguments() -> None:
    # given an order path resolved once and its arguments changed by whoever got them
    first = resolve(f"/api/v1/orders/{ORDER}/")
    first.kwargs["order_id"] = "changed"
    # when it is resolved again, then the arguments are as the path says
    assert resolve(f"/api/v1/orders/{ORDER}/").kwargs == {"order_id": ORDER}


def test_a_long_path_is_resolved_every_time() -> None:
    remembering = urls.urlpatterns[0]
    assert isinstance(remembering, URLResolver)
    before = remembering._remembered.cache_info().currsize  # type: ignore[attr-defined]
    long_id = "x" * 300  # DRF routers take any text up to a slash as an id
    match = remembering.resolve(f"api/v1/sagas/{long_id}/")
    assert match.kwargs == {"saga_id": long_id}
    assert remembering._remembered.cache_info().currsize == before  # type: ignore[attr-defined]
