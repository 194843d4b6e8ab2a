"""The back office: find sagas, read their step log, act on FAILED ones."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from sagas.domain import SagaStatus
from sagas.models import SagaInstance

from .definitions import drive
from .factories import start_test_saga

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/sagas/sagainstance/"


@pytest.fixture
def admin_client(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def failed_saga() -> SagaInstance:
    return drive(
        start_test_saga(script={"charge": "permanent", "undo_reserve": "transient"}).saga_id
    )


def test_changelist_filters_by_status_type_and_age(admin_client: Client) -> None:
    # given
    failed = failed_saga()
    running = start_test_saga(saga_type="test.deadline")
    # when
    by_status = admin_client.get(CHANGELIST, {"status__exact": "FAILED", "age": "1h"})
    by_type = admin_client.get(CHANGELIST, {"saga_type": "test.deadline"})
    too_old = admin_client.get(CHANGELIST, {"age": "gt1d"})
    # then
    assert by_status.status_code == 200
    assert str(failed.saga_id) in by_status.text
    assert str(running.saga_id) not in by_status.text
    assert str(running.saga_id) in by_type.text
    assert str(failed.saga_id) not in by_type.text
    assert str(failed.saga_id) not in too_old.text


def test_change_page_shows_the_step_log(admin_client: Client) -> None:
    # given
    saga = failed_saga()
    # when
    response = admin_client.get(f"{CHANGELIST}{saga.saga_id}/change/")
    # then
    assert response.status_code == 200
    assert "reserve attempt 2 timed out" in response.text
    assert "COMPENSATION" in response.text


def run_action(client: Client, action: str, saga: SagaInstance) -> SagaInstance:
    response = client.post(
        CHANGELIST, {"action": action, "_selected_action": [str(saga.saga_id)]}, follow=True
    )
    assert response.status_code == 200
    return SagaInstance.objects.get(pk=saga.pk)


def test_retry_action_resumes_compensation(admin_client: Client) -> None:
    saga = run_action(admin_client, "retry", failed_saga())
    assert saga.status == SagaStatus.COMPENSATING


def test_compensate_action_resumes_compensation(admin_client: Client) -> None:
    saga = run_action(admin_client, "compensate", failed_saga())
    assert saga.status == SagaStatus.COMPENSATING


def test_mark_resolved_action_records_who(admin_client: Client, staff: User) -> None:
    saga = run_action(admin_client, "mark_resolved", failed_saga())
    assert saga.status == SagaStatus.COMPENSATED
    assert saga.resolved_by == staff.username


def test_actions_on_sagas_they_do_not_apply_to_warn_and_change_nothing(
    admin_client: Client,
) -> None:
    # given
    done = drive(start_test_saga().saga_id)
    # when
    response = admin_client.post(
        CHANGELIST, {"action": "retry", "_selected_action": [str(done.saga_id)]}, follow=True
    )
    # then
    assert "Only a FAILED saga can be retried" in response.text
    assert SagaInstance.objects.get(pk=done.pk).status == SagaStatus.COMPLETED


def test_payments_are_read_only_in_the_admin(admin_client: Client) -> None:
    assert admin_client.get("/admin/payments/payment/").status_code == 200
    assert admin_client.get("/admin/payments/payment/add/").status_code == 403
    assert admin_client.get("/admin/payments/sandboxcharge/").status_code == 200
