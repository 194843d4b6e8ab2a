"""`/metrics`: who may read it, what it says about HTTP requests."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import User
from operations.checks import metrics_settings_problems
from orders.domain import Order
from tests.conftest import client_for
from tests.operations.scrape import scrape, value
from tests.orders.conftest import make_order, order_url
from tests.orders.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_metrics_are_served_to_an_allowed_network() -> None:
    # given the default allowed networks (loopback) and the test client's 127.0.0.1
    # when Prometheus scrapes
    text = scrape()
    # then the text format carries the business figures and the request metrics
    assert value(text, "commerce_business_metrics_up") == 1
    assert "# TYPE commerce_orders gauge" in text
    assert "# TYPE commerce_http_requests_total counter" in text


def test_an_address_outside_the_allowed_networks_is_refused(settings: SettingsWrapper) -> None:
    # given only a private network is allowed and no token is set
    settings.METRICS_ALLOWED_CIDRS = ["10.0.0.0/8"]
    settings.METRICS_TOKEN = ""
    # when a client from elsewhere asks, even claiming a forwarded allowed address
    response = Client(REMOTE_ADDR="192.0.2.7").get(
        "/metrics", headers={"X-Forwarded-For": "10.1.2.3"}
    )
    # then it is refused with a problem, and no figure leaks
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"] == "forbidden"
    assert b"commerce_" not in response.content


def test_an_address_inside_an_allowed_network_is_served(settings: SettingsWrapper) -> None:
    settings.METRICS_ALLOWED_CIDRS = ["10.0.0.0/8", "2001:db8::/32"]
    assert Client(REMOTE_ADDR="10.20.30.40").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="2001:db8::5").get("/metrics").status_code == 200


def test_the_bearer_token_opens_it_from_anywhere(settings: SettingsWrapper) -> None:
    # given no network is allowed but a token is set
    settings.METRICS_ALLOWED_CIDRS = []
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    outside = Client(REMOTE_ADDR="198.51.100.9")
    # when / then: the right token is served, a wrong one or none is refused
    assert scrape(outside, Authorization="Bearer s3cret-scrape-token")
    wrong = outside.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert outside.get("/metrics").status_code == 403


def test_a_token_with_odd_characters_is_refused_not_an_error(settings: SettingsWrapper) -> None:
    settings.METRICS_ALLOWED_CIDRS = []
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    response = Client(REMOTE_ADDR="198.51.100.9").get(
        "/metrics", HTTP_AUTHORIZATION="Bearer s3cr\u00e9t-scrape-token"
    )
    assert response.status_code == 403


def test_an_empty_token_opens_nothing(settings: SettingsWrapper) -> None:
    settings.METRICS_ALLOWED_CIDRS = []
    settings.METRICS_TOKEN = ""
    response = Client(REMOTE_ADDR="198.51.100.9").get(
        "/metrics", headers={"Authorization": "Bearer "}
    )
    assert response.status_code == 403


def test_requests_are_counted_by_route_template_not_raw_path(customer: User) -> None:
    # given an order and the count of detail reads so far
    order: Order = make_order(customer, lines=[(ProductFactory(), 1)])
    labels = {"route": "api/v1/orders/<uuid:order_id>/", "method": "GET", "status": "200"}
    before = value(scrape(), "commerce_http_requests_total", labels) or 0
    client = client_for(customer)
    # when the order is read twice and a missing one once
    assert client.get(order_url(order.id)).status_code == 200
    assert client.get(order_url(order.id)).status_code == 200
    assert client.get("/api/v1/nowhere/").status_code == 404
    # then the two reads count under the route template, with their latency observed
    text = scrape()
    assert value(text, "commerce_http_requests_total", labels) == before + 2
    assert (
        value(
            text,
            "commerce_http_request_duration_seconds_count",
            {"route": "api/v1/orders/<uuid:order_id>/", "method": "GET"},
        )
        or 0
    ) >= before + 2
    unmatched = {"route": "<unmatched>", "method": "GET", "status": "404"}
    assert (value(text, "commerce_http_requests_total", unmatched) or 0) >= 1
    # and no order id became a label value
    assert str(order.id) not in text
    assert not re.search(r'route="[^"]*[0-9a-f]{8}-[0-9a-f]{4}-', text)


def test_metrics_can_be_switched_off(settings: SettingsWrapper) -> None:
    settings.METRICS_ENABLED = False
    assert Client().get("/metrics").status_code == 404


def test_a_malformed_allowed_network_is_refused_at_start_up(settings: SettingsWrapper) -> None:
    settings.METRICS_ALLOWED_CIDRS = ["10.0.0.0/8", "10.0.0.0/33"]
    problems = metrics_settings_problems()
    assert [p.id for p in problems] == ["operations.E001"]
    assert "10.0.0.0/33" in problems[0].msg
    settings.METRICS_ALLOWED_CIDRS = ["10.0.0.0/8", "::1/128"]
    assert metrics_settings_problems() == []
