import pytest
from django.http import Http404
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from commerce_project.api import negotiation
from commerce_project.api.negotiation import ContentNegotiation
from commerce_project.api.renderers import JSONRenderer, ProblemJSONRenderer

RENDERERS: list[BaseRenderer] = [JSONRenderer(), ProblemJSONRenderer(), BrowsableAPIRenderer()]


def _request(accept: str | None, query: str = "") -> Request:
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    return Request(APIRequestFactory().get(f"/api/v1/orders/{query}", **headers))


def _choice(negotiator: DefaultContentNegotiation, request: Request) -> tuple[str, str]:
    renderer, media_type = negotiator.select_renderer(request, RENDERERS)
    return type(renderer).__name__, media_type


@pytest.mark.parametrize(
    ("accept", "query"),
    [
        (None, ""),
        ("application/json", ""),
        ("*/*", ""),
        ("application/problem+json", ""),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", ""),
        ("application/json; indent=4", ""),
        ("application/*", ""),
        ("*/*", "?format=api"),
        ("application/json", "?format=json"),
    ],
)
def test_the_remembered_choice_is_drfs(accept: str | None, query: str) -> None:
    # given the choice DRF makes for this request
    expected = _choice(DefaultContentNegotiation(), _request(accept, query))
    # when negotiated twice (the second time from memory)
    first = _choice(ContentNegotiation(), _request(accept, query))
    second = _choice(ContentNegotiation(), _request(accept, query))
    # then both are DRF's
    assert first == second == expected


def test_a_failure_is_never_remembered() -> None:
    for _ in range(2):
        with pytest.raises(exceptions.NotAcceptable):
            ContentNegotiation().select_renderer(_request("image/png"), RENDERERS)
        with pytest.raises(Http404):
            ContentNegotiation().select_renderer(_request("*/*", "?format=xml"), RENDERERS)
    assert not any(key[0] == "image/png" for key in negotiation._choices)


def test_the_memory_is_bounded() -> None:
    # when more distinct headers come than it holds
    for n in range(negotiation.MAX_REMEMBERED + 10):
        ContentNegotiation().select_renderer(_request(f"application/json; v={n}"), RENDERERS)
    # then it never holds more
    assert len(negotiation._choices) <= negotiation.MAX_REMEMBERED
    # and a long header is negotiated without being remembered
    long_header = "text/plain;q=0.1, " * 20 + "application/json"
    ContentNegotiation().select_renderer(_request(long_header), RENDERERS)
    assert not any(key[0] == long_header for key in negotiation._choices)
