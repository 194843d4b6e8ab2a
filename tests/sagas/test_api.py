"""GET /api/v1/sagas/, GET /api/v1/sagas/{id}/, POST /api/v1/sagas/{id}/retry/."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from sagas.domain import SagaStatus
from sagas.models import SagaInstance

from .definitions import drive
from .factories import start_test_saga

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def failed_saga(owner: User) -> SagaInstance:
    saga = start_test_saga(
        owner_id=owner.pk, script={"charge": "permanent", "undo_reserve": "transient"}
    )
    return drive(saga.saga_id)


def test_customers_list_only_their_own_sagas(
    customer_client: APIClient, customer: User, other_customer: User
) -> None:
    # given
    mine = start_test_saga(owner_id=customer.pk)
    start_test_saga(owner_id=other_customer.pk)
    start_test_saga()
    # when
    response = customer_client.get("/api/v1/sagas/")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["results"][0]["id"] == str(mine.saga_id)
    assert body["results"][0]["type"] == "test.three_steps"
    assert body["results"][0]["status"] == "RUNNING"


def test_staff_list_every_saga_and_filter_by_status_and_type(
    staff_client: APIClient, customer: User, other_customer: User
) -> None:
    # given
    done = drive(start_test_saga(owner_id=customer.pk).saga_id)
    start_test_saga(owner_id=other_customer.pk)
    start_test_saga(saga_type="test.deadline")
    # when
    everything = staff_client.get("/api/v1/sagas/").json()
    completed = staff_client.get("/api/v1/sagas/", {"status": "COMPLETED"}).json()
    of_type = staff_client.get("/api/v1/sagas/", {"type": "test.deadline"}).json()
    # then
    assert everything["count"] == 3
    assert [s["id"] for s in completed["results"]] == [str(done.saga_id)]
    assert [s["type"] for s in of_type["results"]] == ["test.deadline"]


def test_an_unknown_status_filter_is_invalid_input(staff_client: APIClient) -> None:
    response = staff_client.get("/api/v1/sagas/", {"status": "SLEEPING"})
    assert response.status_code == 400
    assert response.json()["type"] == "invalid-input"


def test_detail_shows_steps_with_attempts_and_errors(
    customer_client: APIClient, customer: User
) -> None:
    # given
    saga = failed_saga(customer)
    # when
    response = customer_client.get(f"/api/v1/sagas/{saga.saga_id}/")
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "FAILED"
    assert body["failure_reason"] == "charge_refused"
    steps = {step["name"]: step for step in body["steps"]}
    assert list(steps) == ["reserve", "charge", "notify"]
    assert steps["reserve"]["state"] == "COMPENSATION_FAILED"
    assert [a["outcome"] for a in steps["reserve"]["attempts"]] == ["SUCCEEDED"]
    assert [(a["attempt"], a["outcome"]) for a in steps["reserve"]["compensation_attempts"]] == [
        (1, "RETRY"),
        (2, "FAILED"),
    ]
    compensation_errors = [a["error"] for a in steps["reserve"]["compensation_attempts"]]
    assert compensation_errors == ["reserve attempt 1 timed out", "reserve attempt 2 timed out"]
    assert steps["charge"]["state"] == "FAILED"
    assert steps["charge"]["attempts"][0]["error"] == "charge refused"
    assert steps["notify"]["state"] == "PENDING"
    assert "saga_data" not in body  # internal step data is for staff only


def test_staff_see_the_saga_data(staff_client: APIClient, customer: User) -> None:
    # given
    saga = drive(start_test_saga(owner_id=customer.pk).saga_id)
    # when
    body = staff_client.get(f"/api/v1/sagas/{saga.saga_id}/").json()
    # then
    assert body["saga_data"]["trail"] == ["reserve", "charge", "notify"]


def test_someone_elses_saga_is_not_found(other_customer_client: APIClient, customer: User) -> None:
    # given
    saga = start_test_saga(owner_id=customer.pk)
    # when
    response = other_customer_client.get(f"/api/v1/sagas/{saga.saga_id}/")
    # then
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert response.json()["type"] == "not-found"


@pytest.mark.parametrize("saga_id", ["not-a-uuid", str(uuid.uuid4())])
def test_unknown_or_malformed_ids_are_not_found(staff_client: APIClient, saga_id: str) -> None:
    response = staff_client.get(f"/api/v1/sagas/{saga_id}/")
    assert response.status_code == 404
    assert response.json()["type"] == "not-found"


def test_anonymous_requests_are_not_authenticated(api_client: APIClient) -> None:
    response = api_client.get("/api/v1/sagas/")
    assert response.status_code == 401
    assert response.json()["type"] == "not-authenticated"


def test_staff_retry_a_failed_saga(staff_client: APIClient, customer: User) -> None:
    # given
    saga = failed_saga(customer)
    # when
    response = staff_client.post(
        f"/api/v1/sagas/{saga.saga_id}/retry/", HTTP_IDEMPOTENCY_KEY="retry-1"
    )
    replay = staff_client.post(
        f"/api/v1/sagas/{saga.saga_id}/retry/", HTTP_IDEMPOTENCY_KEY="retry-1"
    )
    # then
    assert response.status_code == 202
    assert response.json()["status"] == "COMPENSATING"
    assert replay.status_code == 202
    assert replay["Idempotent-Replayed"] == "true"
    assert SagaInstance.objects.get(pk=saga.pk).status == SagaStatus.COMPENSATING


def test_retrying_a_saga_that_has_not_failed_is_an_illegal_transition(
    staff_client: APIClient,
) -> None:
    # given
    saga = drive(start_test_saga().saga_id)
    # when
    response = staff_client.post(f"/api/v1/sagas/{saga.saga_id}/retry/")
    # then
    assert response.status_code == 409
    assert response["Content-Type"] == PROBLEM
    assert response.json()["type"] == "illegal-transition"
    assert response.json()["status"] == 409
    assert response.json()["saga_status"] == "COMPLETED"


def test_customers_may_not_retry_even_their_own_saga(
    customer_client: APIClient, customer: User
) -> None:
    # given
    saga = failed_saga(customer)
    # when
    response = customer_client.post(f"/api/v1/sagas/{saga.saga_id}/retry/")
    # then
    assert response.status_code == 403
    assert response.json()["type"] == "forbidden"
    assert SagaInstance.objects.get(pk=saga.pk).status == SagaStatus.FAILED
