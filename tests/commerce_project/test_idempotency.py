"""Idempotency-Key: same key and body replays; another body is 422; a duplicate arriving
while the first still runs is 409; failures are never stored."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper
from django.test import override_settings
from django.utils import timezone
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from accounts.models import User
from commerce_project.api.idempotency import idempotency_keys_purge, request_fingerprint
from commerce_project.api.models import IdempotencyKey
from tests.conftest import client_for

from . import urls_for_tests

pytestmark = pytest.mark.urls("tests.commerce_project.urls_for_tests")

THINGS = "/api/v1/test/things/"


def things_made() -> int:
    return User.objects.filter(username__startswith="thing-").count()


@pytest.mark.django_db
def test_same_key_and_body_replays_the_stored_response(customer_client: APIClient) -> None:
    # given
    first = customer_client.post(THINGS, {"name": "a"}, HTTP_IDEMPOTENCY_KEY="k1")
    # when
    second = customer_client.post(THINGS, {"name": "a"}, HTTP_IDEMPOTENCY_KEY="k1")
    # then
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Location"] == first["Location"]
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert things_made() == 1


@pytest.mark.django_db
def test_same_key_with_another_body_is_422(customer_client: APIClient) -> None:
    customer_client.post(THINGS, {"name": "a"}, HTTP_IDEMPOTENCY_KEY="k1")
    response = customer_client.post(THINGS, {"name": "b"}, HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 422
    assert response.json()["type"] == "idempotency-key-reused"
    assert things_made() == 1


@pytest.mark.django_db
def test_keys_are_scoped_per_user(
    customer_client: APIClient, other_customer_client: APIClient
) -> None:
    customer_client.post(THINGS, {"name": "a"}, HTTP_IDEMPOTENCY_KEY="shared")
    response = other_customer_client.post(THINGS, {"name": "a"}, HTTP_IDEMPOTENCY_KEY="shared")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert things_made() == 2


@pytest.mark.django_db
def test_without_a_key_every_request_runs(customer_client: APIClient) -> None:
    customer_client.post(THINGS, {"name": "a"})
    customer_client.post(THINGS, {"name": "a"})
    assert things_made() == 2


@pytest.mark.django_db
def test_a_failed_request_is_not_stored_so_a_retry_runs(customer_client: APIClient) -> None:
    # given a first attempt that ends in a client error
    failed = customer_client.post(THINGS, {"name": "a", "status": 409}, HTTP_IDEMPOTENCY_KEY="k2")
    assert failed.status_code == 409
    # when the client retries with the same key and a corrected body
    retried = customer_client.post(THINGS, {"name": "a"}, HTTP_IDEMPOTENCY_KEY="k2")
    # then
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried
    assert things_made() == 2  # the failed attempt's writes committed, but were not replayed


@pytest.mark.django_db
def test_overlong_key_is_invalid_input(customer_client: APIClient) -> None:
    response = customer_client.post(THINGS, {"name": "a"}, HTTP_IDEMPOTENCY_KEY="x" * 256)
    assert response.status_code == 400
    assert response.json()["type"] == "invalid-input"


SLOW = "/api/v1/test/slow-things/"


@contextmanager
def first_request_parked(customer: User, key: str) -> Iterator[Future[int]]:
    """Starts a request with `key` in another thread and holds it inside the view until
    the block ends; yields the future of its status code."""
    urls_for_tests.gate.clear()
    urls_for_tests.entered.clear()

    def first() -> int:
        try:
            return client_for(customer).post(SLOW, {}, HTTP_IDEMPOTENCY_KEY=key).status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(first)
        assert urls_for_tests.entered.wait(timeout=10)
        try:
            yield pending
        finally:
            urls_for_tests.gate.set()


@pytest.mark.django_db(transaction=True)
def test_duplicate_arriving_while_the_first_runs_is_409(customer: User) -> None:
    # given a first request parked inside the view
    with first_request_parked(customer, "slow") as pending:
        # when the duplicate arrives
        duplicate = client_for(customer).post(SLOW, {}, HTTP_IDEMPOTENCY_KEY="slow")
    # then
    assert duplicate.status_code == 409
    assert duplicate.json()["type"] == "concurrency-conflict"
    assert duplicate["Retry-After"] == "1"
    assert pending.result(timeout=10) == 201
    # and once the first has finished, the duplicate replays its answer
    replay = client_for(customer).post(SLOW, {}, HTTP_IDEMPOTENCY_KEY="slow")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"


@pytest.mark.django_db(transaction=True)
@override_settings(IDEMPOTENCY_LOCK_TIMEOUT=timedelta(seconds=0))
def test_a_slow_but_live_first_request_is_never_taken_over(customer: User) -> None:
    # given a first request still running long after the stale-claim timeout
    with first_request_parked(customer, "slow-live") as pending:
        # when a retry arrives: the claim looks stale, but its owner holds the row lock
        retry = client_for(customer).post(SLOW, {}, HTTP_IDEMPOTENCY_KEY="slow-live")
    # then the retry did not run the command a second time
    assert retry.status_code == 409
    assert pending.result(timeout=10) == 201
    assert IdempotencyKey.objects.get(key="slow-live").status == IdempotencyKey.Status.COMPLETED


@pytest.mark.django_db
def test_anonymous_callers_are_never_replayed_each_others_responses(
    api_client: APIClient,
) -> None:
    # an anonymous replay could hand one stranger's response to another
    first = api_client.post(THINGS, {"name": "a"}, HTTP_IDEMPOTENCY_KEY="same")
    second = APIClient().post(THINGS, {"name": "a"}, HTTP_IDEMPOTENCY_KEY="same")
    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second
    assert first.json()["id"] != second.json()["id"]
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_many_concurrent_duplicates_run_the_body_once(customer: User) -> None:
    # given ten clients racing with the same key
    barrier = threading.Barrier(10)

    def attempt() -> int:
        try:
            barrier.wait(timeout=10)
            return (
                client_for(customer)
                .post(THINGS, {"name": "race"}, HTTP_IDEMPOTENCY_KEY="race")
                .status_code
            )
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda _: attempt(), range(10)))
    # then
    assert things_made() == 1
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1


def fingerprint_of_post(path: str, body: dict[str, object]) -> str:
    raw = APIRequestFactory().post(path, body, format="json")
    return request_fingerprint(Request(raw, parsers=[JSONParser()]))


@pytest.mark.django_db
@override_settings(IDEMPOTENCY_LOCK_TIMEOUT=timedelta(seconds=0))
def test_a_stale_claim_left_by_a_crash_is_taken_over(
    customer_client: APIClient, customer: User
) -> None:
    # given a claim whose process died before answering
    now = timezone.now()
    IdempotencyKey.objects.create(
        owner=str(customer.pk),
        key="crashed",
        method="POST",
        path=THINGS,
        request_hash=fingerprint_of_post(THINGS, {"name": "a"}),
        locked_at=now - timedelta(seconds=1),
        expires_at=now + timedelta(hours=1),
    )
    # when the client retries
    response = customer_client.post(THINGS, {"name": "a"}, HTTP_IDEMPOTENCY_KEY="crashed")
    # then the retry runs instead of waiting forever
    assert response.status_code == 201
    assert things_made() == 1
    assert IdempotencyKey.objects.get(key="crashed").status == IdempotencyKey.Status.COMPLETED


@pytest.mark.django_db
def test_expired_keys_are_purged(customer_client: APIClient) -> None:
    customer_client.post(THINGS, {"name": "a"}, HTTP_IDEMPOTENCY_KEY="old")
    customer_client.post(THINGS, {"name": "a"}, HTTP_IDEMPOTENCY_KEY="new")
    IdempotencyKey.objects.filter(key="old").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"name": "a"}, {"name": "b"}])
def test_an_expired_key_is_absent_even_before_the_purge(
    customer_client: APIClient, body: dict[str, str]
) -> None:
    # given a key whose answer is past IDEMPOTENCY_KEY_TTL but not yet purged
    customer_client.post(THINGS, {"name": "a"}, HTTP_IDEMPOTENCY_KEY="stale")
    IdempotencyKey.objects.filter(key="stale").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    # when the key is used again, with the same body or another
    response = customer_client.post(THINGS, body, HTTP_IDEMPOTENCY_KEY="stale")
    # then it is a new request: not replayed, not refused as reused
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert things_made() == 2
    row = IdempotencyKey.objects.get(key="stale")
    assert row.status == IdempotencyKey.Status.COMPLETED
    assert row.expires_at > timezone.now()


DROPPED = "/api/v1/test/dropped-connection-things/"


@pytest.mark.django_db(transaction=True)
def test_a_request_that_lost_its_database_connection_releases_its_key(customer: User) -> None:
    # given a first attempt whose database session is ended under it
    urls_for_tests.connection_drops[0] = 1
    failed = client_for(customer).post(DROPPED, {}, HTTP_IDEMPOTENCY_KEY="dropped")
    assert failed.status_code == 503
    assert failed.json()["type"] == "service-unavailable"
    assert failed["Retry-After"]
    # then the key is not left claimed for IDEMPOTENCY_LOCK_TIMEOUT
    assert not IdempotencyKey.objects.filter(key="dropped").exists()
    # and a retry with the same key runs at once
    retried = client_for(customer).post(DROPPED, {}, HTTP_IDEMPOTENCY_KEY="dropped")
    assert retried.status_code == 201
    assert things_made() == 1


@pytest.mark.django_db(transaction=True)
def test_the_key_is_released_once_a_restarting_database_takes_connections_again(
    customer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a request whose session is ended by a restart, and a database that then refuses
    # the next two connections ("the database system is starting up")
    client = client_for(customer)
    urls_for_tests.connection_drops[0] = 1
    refusals = [2]
    connect = DatabaseWrapper.get_new_connection

    def starting_up(self: DatabaseWrapper, conn_params: dict[str, object]) -> object:
        if urls_for_tests.connection_drops[0] == 0 and refusals[0] > 0:
            refusals[0] -= 1
            raise psycopg.OperationalError("the database system is starting up")
        return connect(self, conn_params)

    monkeypatch.setattr(DatabaseWrapper, "get_new_connection", starting_up)
    # when
    failed = client.post(DROPPED, {}, HTTP_IDEMPOTENCY_KEY="restart")
    # then the answer says "try again", and the key was released once the database was back
    assert failed.status_code == 503
    assert refusals == [0]
    assert not IdempotencyKey.objects.filter(key="restart").exists()
    assert client.post(DROPPED, {}, HTTP_IDEMPOTENCY_KEY="restart").status_code == 201
