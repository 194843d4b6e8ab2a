"""PostgreSQL unreachable or restarting: every endpoint answers 503 `service-unavailable`
with Retry-After, as for a Redis outage, never a 500; and works again once it is back."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import DataError, InterfaceError, OperationalError, connection
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from commerce_project.api import idempotency
from commerce_project.api.models import IdempotencyKey
from commerce_project.api.outages import database_unavailable
from commerce_project.api.problems import handler500
from tests.carts.conftest import create_cart, items_url
from tests.carts.test_checkout import checkout_body, checkout_url, filled_cart
from tests.commerce_project.test_problems import assert_problem
from tests.conftest import client_for
from tests.inventory.factories import ProductFactory
from tests.orders.conftest import make_order, order_url

# Real connections, committed data: the outage is simulated by closing the connection.
with_database = pytest.mark.django_db(transaction=True)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def database_unreachable(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """New connections go to a port nobody listens on, as while PostgreSQL restarts. The
    connection pool (settings DB_POOL) is closed on the way in and out, so that it is made
    again, empty, with the settings of the moment."""
    forget_connections()
    with monkeypatch.context() as patch:
        patch.setitem(connection.settings_dict, "HOST", "127.0.0.1")
        patch.setitem(connection.settings_dict, "PORT", closed_port())
        yield
        forget_connections()
    forget_connections()


def forget_connections() -> None:
    connection.close()
    if connection.pool is not None:
        connection.close_pool()


def signed_in(user: User) -> APIClient:
    """Authenticated without a token lookup, so that the request gets as far as its own
    database work before meeting the outage."""
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(user)
    return client


def assert_unavailable(response: object) -> None:
    body = assert_problem(response, 503, "service-unavailable")
    assert "database" in str(body["detail"])
    assert int(response["Retry-After"]) > 0  # type: ignore[index]


@with_database
def test_a_cart_add_answers_503_while_the_database_is_down(
    api_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a product the catalogue cache does not hold, so the add looks it up
    mug = ProductFactory(stock=3)
    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    session_id = create_cart(api_client)
    add = {"product_id": str(mug.id), "quantity": 1}
    # when / then
    with database_unreachable(monkeypatch):
        assert_unavailable(api_client.post(items_url(session_id), add, format="json"))
        keyed = api_client.post(
            items_url(session_id), add, format="json", HTTP_IDEMPOTENCY_KEY="add-1"
        )
        assert_unavailable(keyed)
    assert api_client.post(items_url(session_id), add, format="json").status_code == 200


@with_database
def test_a_checkout_answers_503_and_leaves_the_cart_free(
    customer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    client = signed_in(customer)
    session_id = filled_cart(client, (ProductFactory(stock=3), 1))
    # when / then
    with database_unreachable(monkeypatch):
        assert_unavailable(client.post(checkout_url(session_id), checkout_body(), format="json"))
    # and once the database is back, the same checkout goes through
    again = client.post(checkout_url(session_id), checkout_body(), format="json")
    assert again.status_code == 202, again.content


@with_database
def test_an_order_cancel_answers_503(customer: User, monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    order = make_order(customer, lines=[(ProductFactory(stock=3), 1)])
    client = signed_in(customer)
    # when / then
    with database_unreachable(monkeypatch):
        assert_unavailable(client.post(order_url(order.id, "cancel/"), {}, format="json"))
    assert client.post(order_url(order.id, "cancel/"), {}, format="json").status_code == 200


@with_database
def test_a_restock_answers_503(staff: User, monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    mug = ProductFactory(stock=3)
    client = signed_in(staff)
    restock: Callable[[], object] = lambda: client.post(  # noqa: E731
        f"/api/v1/products/{mug.id}/restock/", {"quantity": 2}, format="json"
    )
    # when / then
    with database_unreachable(monkeypatch):
        assert_unavailable(restock())
    assert restock().status_code == 200  # type: ignore[attr-defined]


@with_database
@pytest.mark.urls("tests.commerce_project.urls_for_tests")
def test_outside_drf_the_outage_is_a_503_problem_too(
    api_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with database_unreachable(monkeypatch):
        assert_unavailable(api_client.get("/api/v1/test/plain-django/"))
    assert api_client.get("/api/v1/test/plain-django/").status_code == 200


def wrapped(cause: Exception) -> OperationalError:
    error = OperationalError(str(cause))
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (wrapped(psycopg.OperationalError("connection refused")), True),
        (wrapped(psycopg.errors.AdminShutdown("terminating connection")), True),
        (wrapped(psycopg.errors.CannotConnectNow("the database system is starting up")), True),
        (wrapped(psycopg.errors.ConnectionFailure("connection failure")), True),
        (wrapped(psycopg.errors.TooManyConnections("too many clients already")), True),
        (InterfaceError("connection already closed"), True),
        (wrapped(psycopg.errors.LockNotAvailable("could not obtain lock")), False),
        (wrapped(psycopg.errors.QueryCanceled("statement timeout")), False),
        (wrapped(psycopg.errors.DeadlockDetected("deadlock")), False),
        (DataError("value too long"), False),
        (RuntimeError("boom"), False),
    ],
)
def test_only_an_unreachable_or_restarting_database_counts_as_an_outage(
    error: Exception, outage: bool
) -> None:
    assert database_unavailable(error) is outage


@with_database
def test_checking_a_stale_claim_during_an_outage_is_an_outage_not_a_busy_key(
    customer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a claim to check, and then no database
    now = timezone.now()
    claim = IdempotencyKey.objects.create(
        owner=str(customer.pk),
        key="k",
        method="POST",
        path="/x/",
        request_hash="h",
        locked_at=now - timedelta(hours=1),
        expires_at=now + timedelta(hours=1),
    )
    # when / then: the database error surfaces (503), instead of "another request holds it"
    with database_unreachable(monkeypatch), pytest.raises(OperationalError):
        idempotency._take_over_stale(claim)


@with_database
def test_a_token_authenticated_request_answers_503(
    customer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(customer)
    with database_unreachable(monkeypatch):
        assert_unavailable(client.get("/api/v1/orders/"))


@with_database
@pytest.mark.urls("tests.commerce_project.urls_for_tests")
def test_outside_drf_the_outage_is_a_503_problem_in_debug_mode_too(
    api_client: APIClient, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    # given development settings, where Django renders its own 500 page for a crash
    settings.DEBUG = True
    # when / then
    with database_unreachable(monkeypatch):
        assert_unavailable(api_client.get("/api/v1/test/plain-django/"))


def test_an_outage_raised_outside_any_view_is_a_503_problem(rf: RequestFactory) -> None:
    # given an error from a middleware's query, which only Django's handler500 sees
    request = rf.get("/api/v1/orders/")
    try:
        raise wrapped(psycopg.errors.CannotConnectNow("the database system is shutting down"))
    except OperationalError:
        # when Django asks for the 500 answer, inside its except block
        response = handler500(request)
    # then
    assert response.status_code == 503
    assert json.loads(response.content)["type"] == "service-unavailable"
    assert response["Retry-After"]
