"""An authenticated customer's GET orders/{id}/ costs one PostgreSQL query (the read model)
and one Redis round trip (token cache and user throttle in one script), 304 included.
Counted as sent: the queries Django sends and the prepared statements that bypass its
cursor (eventstore.prepared), and every command (or pipeline) any Redis
connection of the process writes to its socket; and Redis's own statistics confirm that the
one round trip was the script."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

import eventstore.prepared
from accounts.models import User
from inventory.models import Product
from tests.accounts.test_tokens import device, sign_in
from tests.orders.conftest import make_order, order_url
from tests.redis_sent import redis_commands_sent

pytestmark = pytest.mark.django_db

SCRIPT_CALLS = ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_fcall")


@dataclass
class Measured:
    response: Any
    queries: int
    redis_round_trips: int
    scripts_run: int


def scripts_run(server: redis.Redis) -> int:
    stats = server.info("commandstats")
    return sum(int(stats.get(name, {}).get("calls", 0)) for name in SCRIPT_CALLS)


def measured(
    client: APIClient,
    server: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    **headers: str,
) -> Measured:
    prepared: list[str] = []
    enter = eventstore.prepared._cursor.__enter__

    def counting_enter(self: Any) -> Any:
        prepared.append("(a prepared statement)")
        return enter(self)

    scripts_before = scripts_run(server)
    with (
        monkeypatch.context() as patch,
        CaptureQueriesContext(connection) as queries,
        redis_commands_sent() as sent,
    ):
        patch.setattr(eventstore.prepared._cursor, "__enter__", counting_enter)
        response = client.get(path, headers=headers)
    return Measured(
        response, len(queries) + len(prepared), len(sent), scripts_run(server) - scripts_before
    )


@pytest.fixture
def signed_in_with_an_order(customer: User, widget: Product) -> tuple[APIClient, str]:
    order = make_order(customer, lines=[(widget, 2)])
    client = device(sign_in(customer))
    path = order_url(order.id)
    assert client.get(path).status_code == 200  # the token is now in the cache
    return client, path


def test_order_detail_is_one_query_and_one_redis_round_trip(
    signed_in_with_an_order: tuple[APIClient, str],
    raw_redis: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, path = signed_in_with_an_order
    # when
    got = measured(client, raw_redis, monkeypatch, path)
    # then
    assert got.response.status_code == 200
    assert got.response.json()["item_count"] == 2
    assert (got.queries, got.redis_round_trips, got.scripts_run) == (1, 1, 1)


def test_a_not_modified_answer_costs_the_same(
    signed_in_with_an_order: tuple[APIClient, str],
    raw_redis: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, path = signed_in_with_an_order
    etag = client.get(path)["ETag"]
    # when
    got = measured(client, raw_redis, monkeypatch, path, If_None_Match=etag)
    # then
    assert got.response.status_code == 304
    assert got.response["ETag"] == etag
    assert (got.queries, got.redis_round_trips, got.scripts_run) == (1, 1, 1)


def test_the_request_is_counted_against_the_user_throttle(
    signed_in_with_an_order: tuple[APIClient, str],
    raw_redis: redis.Redis,
    customer: User,
) -> None:
    client, path = signed_in_with_an_order
    # when
    client.get(path)
    # then the user's sliding log holds both requests (the warm-up and this one)
    assert raw_redis.llen(f"throttle_log_user_{customer.pk}") == 2


def test_the_first_use_of_a_token_is_counted_too(
    signed_in_with_an_order: tuple[APIClient, str],
    raw_redis: redis.Redis,
    customer: User,
) -> None:
    # given a second device, not yet in the cache
    _, path = signed_in_with_an_order
    # when it reads the order (a cache miss: verified in the database, throttled on its own)
    assert device(sign_in(customer)).get(path).status_code == 200
    # then
    assert raw_redis.llen(f"throttle_log_user_{customer.pk}") == 2
