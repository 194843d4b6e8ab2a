"""The API throttles (accounts.throttles), one Redis script each: a signed-in user's budget
(THROTTLE_USER_RATE, counted in the token cache's round trip on a hit) and an anonymous
client address's (THROTTLE_ANON_RATE, behind NUM_PROXIES trusted proxies)."""

from __future__ import annotations

import hashlib

import pytest
import redis
from django.test import RequestFactory
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.request import Request
from rest_framework.test import APIClient
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from accounts import token_cache
from accounts.models import User
from accounts.throttles import client_ident
from tests.accounts.test_tokens import device, sign_in
from tests.commerce_project.test_problems import assert_problem
from tests.redis_sent import redis_commands_sent

ORDERS = "/api/v1/orders/"
PRODUCTS = "/api/v1/products/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"anon": "3/minute", "user": "3/minute", "login_address": None, "login_username": None},
    )


def test_a_user_is_throttled_across_devices(customer: User, rates: None) -> None:
    # given two devices (tokens are issued without using the API's budget)
    phone, laptop = device(sign_in(customer)), device(sign_in(customer))
    # when they make four requests together
    codes = [c.get(ORDERS).status_code for c in (phone, laptop, phone)]
    response = laptop.get(ORDERS)
    # then the fourth is over the user's budget of three
    assert codes == [200, 200, 200]
    assert_problem(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60


def test_one_users_budget_is_not_anothers(
    customer: User, other_customer: User, rates: None
) -> None:
    mine = device(sign_in(customer))
    for _ in range(3):
        mine.get(ORDERS)
    assert_problem(mine.get(ORDERS), 429, "throttled")
    assert device(sign_in(other_customer)).get(ORDERS).status_code == 200


def test_anonymous_callers_are_throttled_by_address(rates: None) -> None:
    # when one address makes four anonymous requests
    client = APIClient(raise_request_exception=False)
    codes = [client.get(PRODUCTS).status_code for _ in range(3)]
    response = client.get(PRODUCTS, REMOTE_ADDR="127.0.0.1")
    # then
    assert codes == [200, 200, 200]
    assert_problem(response, 429, "throttled")
    # and another address has its own budget
    assert client.get(PRODUCTS, REMOTE_ADDR="198.51.100.9").status_code == 200


def test_a_forwarded_address_counts_only_behind_trusted_proxies(
    rates: None, settings: SettingsWrapper
) -> None:
    client = APIClient(raise_request_exception=False)
    # by default the header is the caller's own and ignored: one budget for all
    for n in range(3):
        client.get(PRODUCTS, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    assert_problem(client.get(PRODUCTS, HTTP_X_FORWARDED_FOR="203.0.113.99"), 429, "throttled")
    # behind one trusted proxy, the address it saw is the client
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert client.get(PRODUCTS, HTTP_X_FORWARDED_FOR="203.0.113.99").status_code == 200


def test_throttling_fails_open_when_redis_is_down(
    customer: User, rates: None, settings: SettingsWrapper
) -> None:
    client = device(sign_in(customer))
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert [client.get(ORDERS).status_code for _ in range(5)] == [200] * 5


def test_an_anonymous_request_counts_both_its_throttles_in_one_round_trip(
    raw_redis: redis.Redis,
) -> None:
    throttle_script = hashlib.sha1(token_cache.THROTTLE_SCRIPT.encode()).hexdigest().encode()
    # when, with every packet any Redis connection sends recorded
    with redis_commands_sent() as sent:
        assert APIClient().get(PRODUCTS).status_code == 200
    # then one packet ran the throttle script, and it counted both budgets of the address
    packets = [b"".join(packet) if isinstance(packet, list) else packet for packet in sent]
    assert len([packet for packet in packets if throttle_script in packet]) == 1
    assert raw_redis.llen("throttle_log_anon_127.0.0.1") == 1
    assert raw_redis.llen("throttle_log_user_127.0.0.1") == 1


@pytest.mark.parametrize("num_proxies", [None, 0, 1, 2])
@pytest.mark.parametrize("xff", [None, "1.1.1.1", "1.1.1.1, 2.2.2.2", " 3.3.3.3 ,4.4.4.4 "])
@pytest.mark.parametrize("remote_addr", ["9.9.9.9", None])
def test_the_client_address_is_drfs(
    settings: SettingsWrapper, num_proxies: int | None, xff: str | None, remote_addr: str | None
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}

    def request() -> Request:
        made = RequestFactory().get("/api/v1/products/")
        if xff is not None:
            made.META["HTTP_X_FORWARDED_FOR"] = xff
        if remote_addr is None:
            del made.META["REMOTE_ADDR"]
        else:
            made.META["REMOTE_ADDR"] = remote_addr
        return Request(made)

    ours = request()
    assert client_ident(ours) == BaseThrottle().get_ident(request())
    assert client_ident(ours) == BaseThrottle().get_ident(request())  # asked again: the same


def _logged(raw_redis: redis.Redis, key: str, *ages: float) -> None:
    """Writes a throttle log as the script keeps it: times of allowed requests `ages`
    seconds ago by Redis's clock, newest first."""
    seconds, micros = raw_redis.time()
    now = seconds + micros / 1_000_000
    raw_redis.rpush(key, *(f"{now - age:.6f}" for age in ages))


def _verdict(rate: token_cache.ThrottleRate) -> token_cache.Verdict:
    return token_cache.throttle_hit(rates=[rate])[rate.key]


def test_the_log_holds_only_the_allowed_requests(raw_redis: redis.Redis) -> None:
    rate = token_cache.ThrottleRate(key="throttle_log_test_allowed", limit=2, duration=60)
    # when four requests come at once
    verdicts = [_verdict(rate) for _ in range(4)]
    # then two are allowed and the refused ones are not logged
    assert [verdict.allowed for verdict in verdicts] == [True, True, False, False]
    assert raw_redis.llen(rate.key) == 2
    # and the log forgets itself a window after the last allowed request
    assert 0 < raw_redis.pttl(rate.key) <= 60_000


def test_the_window_slides(raw_redis: redis.Redis) -> None:
    rate = token_cache.ThrottleRate(key="throttle_log_test_sliding", limit=2, duration=60)
    # given requests allowed 30 and 61 seconds ago: the older has left the window
    _logged(raw_redis, rate.key, 30, 61)
    # when two more come
    allowed, refused = _verdict(rate), _verdict(rate)
    # then there is room for one (a window counted from a fixed start could have none or
    # two), and the other waits until the request of 30 seconds ago leaves the window
    assert allowed.allowed
    assert not refused.allowed
    assert 29 < refused.wait <= 30


def test_a_refused_request_waits_for_the_limit_th_newest_to_leave(
    raw_redis: redis.Redis,
) -> None:
    rate = token_cache.ThrottleRate(key="throttle_log_test_wait", limit=2, duration=60)
    _logged(raw_redis, rate.key, 10, 20)
    verdict = _verdict(rate)
    # the older of the two leaves the window in 40 seconds (the newer one in 50)
    assert not verdict.allowed
    assert 39 < verdict.wait <= 40


def test_the_log_sheds_the_requests_that_left_the_window(raw_redis: redis.Redis) -> None:
    rate = token_cache.ThrottleRate(key="throttle_log_test_shed", limit=100, duration=60)
    # given five requests that have all left the window
    _logged(raw_redis, rate.key, 100, 100, 100, 100, 100)
    # when three more come (each drops those of the two oldest that left the window)
    for _ in range(3):
        assert _verdict(rate).allowed
    # then the log holds only the window's three, not the eight a log cut at the rate's
    # 100 entries would keep
    assert raw_redis.llen(rate.key) == 3


def test_a_log_longer_than_a_lowered_rate_still_gives_the_verdict(
    raw_redis: redis.Redis,
) -> None:
    # given a log written under a rate of 5 a minute, which is now 2 a minute
    rate = token_cache.ThrottleRate(key="throttle_log_test_lowered", limit=2, duration=60)
    _logged(raw_redis, rate.key, 5, 10, 20, 30, 40)
    # when
    verdict = _verdict(rate)
    # then two were allowed in the window: refused until the second newest leaves it
    assert not verdict.allowed
    assert 49 < verdict.wait <= 50


@pytest.mark.parametrize("signed_in", [True, False])
def test_a_rate_of_zero_refuses_every_request(
    monkeypatch: pytest.MonkeyPatch, customer: User, signed_in: bool, raw_redis: redis.Redis
) -> None:
    client = device(sign_in(customer)) if signed_in else APIClient(raise_request_exception=False)
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"anon": "0/minute", "user": "0/minute", "login_address": None, "login_username": None},
    )
    path = ORDERS if signed_in else PRODUCTS
    # the first request of a token is verified in the database and fills the token cache;
    # the second is counted by the cache's own script
    for _ in range(2):
        response = client.get(path)
        assert_problem(response, 429, "throttled")
        assert response["Retry-After"] == "60"
    assert not raw_redis.exists(f"throttle_log_user_{customer.pk}")
