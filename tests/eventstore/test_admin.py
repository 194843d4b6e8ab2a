"""The admin shows the log read-only, filterable and searchable, and checkpoints with lag."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from eventstore.models import Event
from eventstore.projections import checkpoint_set
from tests.eventstore.bank import AsyncBalanceProjection

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def test_events_are_listed_filtered_and_searched(
    admin_client_: Client, open_account: Callable[..., uuid.UUID]
) -> None:
    # given
    ann = open_account("ann", deposits=("1.00",))
    bob = open_account("bob")
    url = reverse("admin:eventstore_event_changelist")
    # when / then
    page = admin_client_.get(url)
    assert page.status_code == 200
    assert str(ann) in page.content.decode()
    assert str(bob) in page.content.decode()
    filtered = admin_client_.get(url, {"event_type": "BankMoneyDeposited"}).content.decode()
    assert str(ann) in filtered
    assert str(bob) not in filtered
    searched = admin_client_.get(url, {"q": str(bob)}).content.decode()
    assert str(bob) in searched
    assert str(ann) not in searched
    assert admin_client_.get(url, {"q": "not-a-uuid"}).status_code == 200


def test_an_event_is_shown_read_only_with_readable_json(
    admin_client_: Client, open_account: Callable[..., uuid.UUID]
) -> None:
    # given
    ann = open_account("ann", deposits=("12.50",))
    event = Event.objects.get(aggregate_id=ann, version=2)
    # when
    page = admin_client_.get(reverse("admin:eventstore_event_change", args=[event.pk]))
    # then
    html = page.content.decode()
    assert page.status_code == 200
    assert "&quot;amount&quot;: &quot;12.50&quot;" in html  # indented JSON in a <pre>
    assert 'name="_save"' not in html
    assert event.transaction_id > 0


@pytest.mark.parametrize("view", ["add", "delete"])
def test_events_cannot_be_added_or_deleted_in_the_admin(
    admin_client_: Client, open_account: Callable[..., uuid.UUID], view: str
) -> None:
    ann = open_account("ann")
    event = Event.objects.get(aggregate_id=ann)
    args = [] if view == "add" else [event.pk]
    response = admin_client_.post(reverse(f"admin:eventstore_event_{view}", args=args), {})
    assert response.status_code == 403
    assert Event.objects.filter(aggregate_id=ann).count() == 1


def test_checkpoints_are_listed_with_lag(
    admin_client_: Client,
    async_balances: AsyncBalanceProjection,
    open_account: Callable[..., uuid.UUID],
) -> None:
    # given an async projection 2 events behind
    open_account("ann", deposits=("1.00",))
    checkpoint_set("test_balances_async", (0, 0), processed=0, absolute=True)
    # when
    page = admin_client_.get(reverse("admin:eventstore_projectioncheckpoint_changelist"))
    # then
    html = page.content.decode()
    assert page.status_code == 200
    assert "test_balances_async" in html
    assert '<td class="field-lag">2</td>' in html
    assert '<td class="field-mode">async</td>' in html
