"""The saga page is read-only for everyone and draws every attempt as a timeline bar
(start offset and duration in ms); its actions each need their own permission."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from accounts.models import User
from orders.domain import saga_id_for
from payments.models import Payment
from sagas.admin_timeline import step_bars
from sagas.models import SagaInstance, SagaStepLog
from tests.conftest import admin_client_for
from tests.factories import UserFactory, staff_with
from tests.orders.conftest import make_order
from tests.orders.factories import ProductFactory

from .definitions import drive
from .factories import start_test_saga

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/sagas/sagainstance/"


@pytest.fixture
def support_client(db: None) -> Client:
    return admin_client_for(staff_with(groups=("support",)))


def failed_saga() -> SagaInstance:
    return drive(
        start_test_saga(script={"charge": "permanent", "undo_reserve": "transient"}).saga_id
    )


def test_the_saga_page_is_read_only_even_for_a_superuser(staff: User) -> None:
    # given
    saga = failed_saga()
    # when
    response = admin_client_for(staff).get(f"{CHANGELIST}{saga.saga_id}/change/")
    # then
    html = response.text
    assert response.status_code == 200
    assert "View saga instance" in html
    assert "Change saga instance" not in html
    assert 'name="_save"' not in html
    assert 'name="_continue"' not in html
    # and posting a change is refused
    posted = admin_client_for(staff).post(
        f"{CHANGELIST}{saga.saga_id}/change/", {"status": "COMPLETED"}
    )
    assert posted.status_code == 403
    assert SagaInstance.objects.get(pk=saga.pk).status == saga.status


def test_the_timeline_has_a_bar_per_attempt_with_outcome_error_and_worker(staff: User) -> None:
    # given a saga that failed a step and retried a compensation
    saga = failed_saga()
    attempts = list(saga.step_log.all())
    # when
    html = admin_client_for(staff).get(f"{CHANGELIST}{saga.saga_id}/change/").text
    # then every attempt is a row with a bar
    assert html.count('class="saga-bar"') == len(attempts)
    for attempt in attempts:
        assert f'class="saga-attempt outcome-{attempt.outcome.lower()}"' in html
    assert "reserve attempt 2 timed out" in html
    assert "↩ reserve" in html  # a compensation is marked as one


def test_bars_are_placed_by_start_and_sized_by_duration() -> None:
    # given three attempts on a saga created at t0: 0-100 ms, 300-400 ms, 400 ms- (running)
    t0 = timezone.now()
    saga = SagaInstance(created_at=t0)
    attempts = [
        SagaStepLog(
            saga=saga,
            step=step,
            kind="ACTION",
            attempt=1,
            outcome=outcome,
            started_at=t0 + timedelta(milliseconds=start),
            finished_at=None if end is None else t0 + timedelta(milliseconds=end),
        )
        for step, outcome, start, end in [
            ("reserve", "SUCCEEDED", 0, 100),
            ("charge", "RETRY", 300, 400),
            ("charge", "STARTED", 400, None),
        ]
    ]
    # when
    bars = step_bars(t0, attempts)
    # then
    assert [(b.start_ms, b.duration_ms) for b in bars] == [(0, 100), (300, 100), (400, None)]
    assert [(b.left_percent, b.width_percent) for b in bars] == [
        (0.0, 25.0),
        (75.0, 25.0),
        (100.0, 0.4),  # nothing left of the scale: drawn at the minimum width
    ]


def test_the_page_links_to_the_order_and_its_payment(staff: User, customer: User) -> None:
    # given a confirmed order (its fulfilment saga started) and its payment record
    order = make_order(customer, lines=[(ProductFactory(sku="W"), 1)], to="CONFIRMED")
    saga = SagaInstance.objects.get(pk=saga_id_for(order.id))
    payment = Payment.objects.create(
        order_id=order.id, amount=Decimal("9.99"), currency="EUR", idempotency_key="k1"
    )
    # when
    html = admin_client_for(staff).get(f"{CHANGELIST}{saga.saga_id}/change/").text
    # then
    assert f'href="/admin/orders/orderview/{order.id}/change/"' in html
    assert f'href="/admin/payments/payment/{payment.pk}/change/"' in html


def test_times_on_the_saga_page_have_seconds_and_the_zone(staff: User) -> None:
    saga = failed_saga()
    expected = timezone.localtime(saga.created_at).strftime("%Y-%m-%d %H:%M:%S") + " UTC"
    assert expected in admin_client_for(staff).get(f"{CHANGELIST}{saga.saga_id}/change/").text


def test_support_views_sagas_but_runs_no_action_without_its_permission(
    support_client: Client,
) -> None:
    # given a FAILED saga and an agent of the support group (view only)
    saga = failed_saga()
    # when
    page = support_client.get(f"{CHANGELIST}{saga.saga_id}/change/")
    changelist = support_client.get(CHANGELIST)
    support_client.post(
        CHANGELIST, {"action": "mark_resolved", "_selected_action": [str(saga.saga_id)]}
    )
    # then
    assert page.status_code == 200
    assert "View saga instance" in page.text
    assert 'value="mark_resolved"' not in changelist.text
    assert SagaInstance.objects.get(pk=saga.pk).status == saga.status


@pytest.mark.parametrize(
    ("codename", "action"),
    [("retry_saga", "retry"), ("compensate_saga", "compensate"), ("resolve_saga", "mark_resolved")],
)
def test_each_action_shows_only_with_its_own_permission(codename: str, action: str) -> None:
    failed_saga()  # the list offers actions only when it lists something
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="view_sagainstance"),
        Permission.objects.get(codename=codename),
    )
    html = admin_client_for(user).get(CHANGELIST).text
    offered = {a for a in ("retry", "compensate", "mark_resolved") if f'value="{a}"' in html}
    assert offered == {action}
