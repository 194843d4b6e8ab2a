"""Acting on sagas takes permissions, in the API as in the admin: POST sagas/{id}/retry/ and
the admin's retry action need sagas.retry_saga, compensate sagas.compensate_saga, mark
resolved sagas.resolve_saga. A view-only user can look and do nothing else."""

from __future__ import annotations

import pytest
from django.test import Client

from sagas.domain import SagaStatus
from sagas.models import SagaInstance
from tests.commerce_project.test_problems import assert_problem
from tests.conftest import client_for
from tests.factories import staff_with

from .definitions import drive
from .factories import start_test_saga

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/sagas/sagainstance/"


def failed_saga() -> SagaInstance:
    return drive(
        start_test_saga(script={"charge": "permanent", "undo_reserve": "transient"}).saga_id
    )


def test_staff_without_the_retry_permission_cannot_retry_through_the_api() -> None:
    saga = failed_saga()
    response = client_for(staff_with("sagas.view_sagainstance")).post(
        f"/api/v1/sagas/{saga.saga_id}/retry/"
    )
    assert_problem(response, 403, "forbidden")
    assert SagaInstance.objects.get(pk=saga.pk).status == SagaStatus.FAILED


def test_staff_with_the_retry_permission_retry_through_the_api() -> None:
    saga = failed_saga()
    response = client_for(staff_with("sagas.retry_saga")).post(
        f"/api/v1/sagas/{saga.saga_id}/retry/"
    )
    assert response.status_code == 202, response.content
    assert SagaInstance.objects.get(pk=saga.pk).status == SagaStatus.COMPENSATING


def _run(client: Client, action: str, saga: SagaInstance) -> SagaInstance:
    client.post(CHANGELIST, {"action": action, "_selected_action": [str(saga.saga_id)]})
    return SagaInstance.objects.get(pk=saga.pk)


@pytest.mark.parametrize("action", ["retry", "compensate", "mark_resolved"])
def test_a_view_only_user_cannot_run_saga_actions(action: str) -> None:
    # given
    client = Client()
    client.force_login(staff_with("sagas.view_sagainstance"))
    running = start_test_saga(saga_type="test.deadline")
    failed = failed_saga()
    # when
    listing = client.get(CHANGELIST)
    # then
    assert listing.status_code == 200
    assert f'value="{action}"' not in listing.text
    assert _run(client, action, running).status == SagaStatus.RUNNING
    assert _run(client, action, failed).status == SagaStatus.FAILED


@pytest.mark.parametrize(
    ("action", "codename", "status"),
    [
        ("retry", "retry_saga", SagaStatus.COMPENSATING),
        ("compensate", "compensate_saga", SagaStatus.COMPENSATING),
        ("mark_resolved", "resolve_saga", SagaStatus.COMPENSATED),
    ],
)
def test_each_saga_action_runs_with_its_permission(
    action: str, codename: str, status: SagaStatus
) -> None:
    client = Client()
    client.force_login(staff_with("sagas.view_sagainstance", f"sagas.{codename}"))
    assert _run(client, action, failed_saga()).status == status
