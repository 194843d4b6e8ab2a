"""Brute force on POST auth/token/: a login throttle per client address and per username
(THROTTLE_LOGIN_ADDRESS_RATE, THROTTLE_LOGIN_USERNAME_RATE), and client addresses that a
caller cannot choose: X-Forwarded-For is trusted only through NUM_PROXIES proxies (0 by
default, so the address is the connection's)."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import User
from tests.commerce_project.test_problems import assert_problem

TOKEN = "/api/v1/auth/token/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def login_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    """The production defaults for the login scopes; the others as the test settings have
    them (high), so only the login throttle can answer 429 here."""
    rates = {
        **SimpleRateThrottle.THROTTLE_RATES,
        "login_address": "10/minute",
        "login_username": "5/minute",
    }
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)


def _attempt(client: APIClient, username: str, forwarded_for: str) -> Any:
    return client.post(
        TOKEN,
        {"username": username, "password": "guess"},
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


def test_the_forwarded_for_header_is_not_trusted_by_default(settings: SettingsWrapper) -> None:
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0


def test_twenty_attempts_with_varying_forwarded_for_headers_are_throttled(
    api_client: APIClient, login_rates: None
) -> None:
    # when one client sends twenty guesses, each claiming another address and username
    codes = [_attempt(api_client, f"user{i}", f"203.0.113.{i}").status_code for i in range(20)]
    response = _attempt(api_client, "user99", "198.51.100.7")
    # then the per-address budget (10/minute) applies to the connection's address
    assert codes[:10] == [400] * 10
    assert set(codes[10:]) == {429}
    assert_problem(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


def test_one_username_is_throttled_across_addresses(
    api_client: APIClient, customer: User, login_rates: None, settings: SettingsWrapper
) -> None:
    # given a trusted proxy in front, so each attempt really comes from another address
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # when one username is guessed from many addresses (any case: usernames are
    # case-insensitive)
    codes = [
        _attempt(
            api_client, customer.username.upper() if i % 2 else customer.username, f"203.0.113.{i}"
        ).status_code
        for i in range(8)
    ]
    # then the per-username budget (5/minute) stops it, whatever the address
    assert codes[:5] == [400] * 5
    assert set(codes[5:]) == {429}
    # and another username from a fresh address is still answered
    assert _attempt(api_client, "someone-else", "192.0.2.1").status_code == 400


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(
    api_client: APIClient, login_rates: None, settings: SettingsWrapper
) -> None:
    # given one trusted proxy: the last X-Forwarded-For entry is the client it saw
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # when two clients behind it try, one of them many times with forged prefixes
    noisy = [
        _attempt(api_client, f"user{i}", f"10.0.0.{i}, 203.0.113.5").status_code for i in range(12)
    ]
    quiet = _attempt(api_client, "quiet", "203.0.113.6")
    # then only the noisy client is throttled
    assert set(noisy[10:]) == {429}
    assert quiet.status_code == 400


def test_successful_sign_ins_do_not_spend_the_username_budget(
    api_client: APIClient, customer: User, login_rates: None, settings: SettingsWrapper
) -> None:
    # given a customer signing in on many devices behind a trusted proxy
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    customer.set_password("right-password-42")
    customer.save()
    # when they sign in more often than the username budget (5/minute) allows guesses
    codes = [
        api_client.post(
            TOKEN,
            {"username": customer.username, "password": "right-password-42"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{i}",
        ).status_code
        for i in range(8)
    ]
    # then every sign-in succeeds, and the budget is still whole for guesses
    assert codes == [200] * 8
    guesses = [_attempt(api_client, customer.username, f"198.51.100.{i}") for i in range(6)]
    assert [g.status_code for g in guesses] == [400] * 5 + [429]
