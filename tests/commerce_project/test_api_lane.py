"""The API lane (commerce_project/api/lane.py): a request under /api/ without cookies and
without Origin gets from one middleware exactly what the browser middleware's layers would
give it. Each case is served twice, once by the stack as configured and once by the same
stack without the lane middleware, and the two responses must be the same: status, body, every
header and cookie."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import User
from commerce_project.api.lane import ApiLaneMiddleware, in_lane
from tests.accounts.test_tokens import sign_in
from tests.orders.conftest import make_order, order_url
from tests.orders.factories import ProductFactory

pytestmark = pytest.mark.django_db

LANE = "commerce_project.api.lane.ApiLaneMiddleware"
WITHOUT_LANE = [m for m in settings.MIDDLEWARE if m != LANE]

Call = Callable[[APIClient], Any]


def both_ways(call: Call, token: str | None = None) -> tuple[Any, Any]:
    """The response through the lane, then through the layers (each with a new client: the
    test client builds its middleware chain from the settings of the moment)."""
    responses = []
    for middleware in (settings.MIDDLEWARE, WITHOUT_LANE):
        with override_settings(MIDDLEWARE=middleware):
            # One request id for both: problem bodies name it.
            client = APIClient(raise_request_exception=False, HTTP_X_REQUEST_ID="lane-test")
            if token:
                client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            responses.append(call(client))
    return responses[0], responses[1]


def assert_same(lane: Any, layers: Any) -> None:
    assert lane.status_code == layers.status_code
    assert dict(lane.items()) == dict(layers.items())
    if "csrftoken" in lane.cookies:
        # A page with a form carries a new CSRF token each time; the rest is the same.
        csrf = re.compile(rb'(csrfmiddlewaretoken" value="|"csrfToken": ")[^"]+')
        assert csrf.sub(b"", lane.content) == csrf.sub(b"", layers.content)
        token = re.compile(r"csrftoken=[^;]+")
        assert token.sub("", lane.cookies.output()) == token.sub("", layers.cookies.output())
    else:
        assert lane.cookies.output() == layers.cookies.output()
        assert content_of(lane) == content_of(layers)


def content_of(response: Any) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return bytes(response.content)


@pytest.fixture
def token(customer: User) -> str:
    return sign_in(customer)


CASES: dict[str, Call] = {
    # an empty Authorization header: no credentials, an anonymous request
    "anonymous list": lambda c: c.get("/api/v1/products/", HTTP_AUTHORIZATION=""),
    "signed-in list": lambda c: c.get("/api/v1/orders/"),
    "problem from DRF": lambda c: c.get("/api/v1/orders/", HTTP_AUTHORIZATION="Bearer nope"),
    "not found": lambda c: c.get("/api/v1/nothing-here/"),
    "not found without the slash": lambda c: c.get("/api/v1/orders"),
    "method not allowed": lambda c: c.delete("/api/v1/orders/"),
    "unparsable body": lambda c: c.post(
        "/api/v1/orders/", data="{", content_type="application/json"
    ),
    "invalid input": lambda c: c.post("/api/v1/orders/", {"items": "x"}, format="json"),
    "over HTTPS": lambda c: c.get("/api/v1/orders/", secure=True),
    # the lane leaves it to the layers, whose answer (a 400) is then the same by construction
    "a host not allowed": lambda c: c.get("/api/v1/orders/", HTTP_HOST="evil.example"),
    "browsable API, which sets the CSRF cookie": lambda c: c.get(
        "/api/v1/products/", HTTP_ACCEPT="text/html"
    ),
    "HEAD": lambda c: c.head("/api/v1/products/"),
}


@pytest.mark.parametrize("case", CASES)
def test_the_lane_answers_as_the_layers_do(case: str, token: str) -> None:
    assert_same(*both_ways(CASES[case], token))


def test_an_order_detail_and_its_304_are_the_same(token: str, customer: User) -> None:
    order = make_order(customer, lines=[(ProductFactory(), 1)])
    assert_same(*both_ways(lambda c: c.get(order_url(order.id)), token))
    etag = f'"{order.version}"'
    lane, layers = both_ways(lambda c: c.get(order_url(order.id), HTTP_IF_NONE_MATCH=etag), token)
    assert lane.status_code == 304
    assert_same(lane, layers)


@pytest.mark.parametrize(
    "changed",
    [
        {"SECURE_HSTS_SECONDS": 3600, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True},
        {"SECURE_SSL_REDIRECT": True},
        {"SECURE_REFERRER_POLICY": "no-referrer, strict-origin", "X_FRAME_OPTIONS": "sameorigin"},
        {"SECURE_CONTENT_TYPE_NOSNIFF": False, "SECURE_CROSS_ORIGIN_OPENER_POLICY": None},
        {"PREPEND_WWW": True},
    ],
    ids=["hsts", "https redirect", "other policies", "fewer headers", "prepend www"],
)
def test_the_layers_settings_are_the_lanes(changed: dict[str, Any], token: str) -> None:
    with override_settings(**changed):
        for secure in (False, True):
            call: Call = lambda c, secure=secure: c.get("/api/v1/orders/", secure=secure)  # noqa: E731
            assert_same(*both_ways(call, token))


def test_refused_user_agents_are_refused_in_the_lane_too(token: str) -> None:
    with override_settings(DISALLOWED_USER_AGENTS=[re.compile("BadBot")]):
        lane, layers = both_ways(
            lambda c: c.get("/api/v1/orders/", HTTP_USER_AGENT="BadBot"), token
        )
    assert lane.status_code == 403
    assert_same(lane, layers)


@pytest.mark.urls("tests.commerce_project.urls_for_tests")
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/test/crash/",
        "/api/v1/test/plain-crash/",
        "/api/v1/test/streamed/",
        "/api/v1/test/framable/",
    ],
    ids=["a DRF view crashes", "a Django view crashes", "streamed", "exempt from frame options"],
)
def test_crashes_streams_and_exemptions_are_the_same(path: str, token: str) -> None:
    lane, layers = both_ways(lambda c: c.get(path), token)
    assert_same(lane, layers)


@pytest.mark.filterwarnings("ignore:No directory at")  # no collected static files in tests
def test_the_production_chain_with_whitenoise_has_a_lane(
    token: str, layer_hooks: list[str]
) -> None:
    production = list(WITHOUT_LANE)
    production.insert(
        production.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )
    production.insert(production.index("commerce_project.api.cors.CorsMiddleware"), LANE)
    with override_settings(MIDDLEWARE=production):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.get("/api/v1/orders/")
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert layer_hooks == []  # WhiteNoise passed over with the rest


@pytest.fixture
def layer_hooks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the request hooks of the layers as they run."""
    ran: list[str] = []
    for kind in (CommonMiddleware, CsrfViewMiddleware):
        original = kind.process_request

        def recorded(self: Any, request: HttpRequest, original: Any = original) -> Any:
            ran.append(type(self).__name__)
            return original(self, request)

        monkeypatch.setattr(kind, "process_request", recorded)
    return ran


@pytest.mark.parametrize(
    ("extra", "lane"),
    [
        ({}, True),
        ({"HTTP_COOKIE": "theme=dark"}, False),
        ({"HTTP_ORIGIN": "https://shop.example"}, False),
    ],
    ids=["token request", "with a cookie", "with an Origin"],
)
def test_only_requests_without_cookie_or_origin_skip_the_layers(
    layer_hooks: list[str], token: str, extra: dict[str, str], lane: bool
) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/orders/", **extra).status_code == 200
    assert (layer_hooks == []) is lane


def test_outside_the_api_and_for_options_the_layers_run(rf: Any) -> None:
    assert in_lane(rf.get("/api/v1/orders/"))
    assert not in_lane(rf.get("/admin/"))
    assert not in_lane(rf.options("/api/v1/orders/"))
    assert not in_lane(rf.get("/api/v1/orders/", HTTP_COOKIE="sessionid=x"))


def test_the_lane_refuses_a_chain_it_does_not_know() -> None:
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    with pytest.raises(ImproperlyConfigured):
        ApiLaneMiddleware(view)
