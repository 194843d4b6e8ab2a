"""Order emails other than the confirmation (a saga step): sent by the subscriber to order
events, after the commit, and never in the way of the order's change."""

from __future__ import annotations

import pytest
from django.core import mail
from pytest_django import DjangoCaptureOnCommitCallbacks
from rest_framework.test import APIClient

from accounts.models import User
from orders.models import OrderView
from sagas.order_emails import order_with_recipient
from tests.factories import UserFactory
from tests.sagas.shop import advance, confirmed_order, order, stocked_product

pytestmark = pytest.mark.django_db


def test_paid_and_shipped_emails_follow_the_order_after_commit(
    customer: User,
    staff_client: APIClient,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    # given
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 2)])
    # when: paid (the confirmation is the saga's step, "paid" the subscriber's)
    with django_capture_on_commit_callbacks(execute=False) as pending:
        advance(order_id)
    sent_before_commit = len(mail.outbox)
    for callback in pending:
        callback()
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            f"/api/v1/orders/{order_id}/ship/",
            {"carrier": "DHL", "tracking_number": "JD014600"},
            format="json",
        )
    # then
    assert sent_before_commit == 1  # the saga's confirmation; "paid" waited for the commit
    assert [email.subject.split(" (")[0] for email in mail.outbox] == [
        "Your order is confirmed",
        "Payment received for your order",
        "Your order has shipped",
    ]
    assert all(email.to == [customer.email] for email in mail.outbox)
    assert "JD014600" in mail.outbox[2].body
    assert "Message-ID" in mail.outbox[1].extra_headers


def test_a_customer_cancelling_is_told_no_money_was_taken(
    customer: User,
    customer_client: APIClient,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    # given
    mug = stocked_product(5)
    order_id = confirmed_order(customer, [(mug, 1)])
    # when
    with django_capture_on_commit_callbacks(execute=True):
        customer_client.post(f"/api/v1/orders/{order_id}/cancel/", {}, format="json")
    # then
    [email] = mail.outbox
    assert email.subject.startswith("Your order was cancelled")
    assert "requested_by_customer" in email.body
    assert "No money has been taken." in email.body


def test_a_customer_without_an_address_gets_no_email_and_the_order_still_goes_through(
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    # given
    silent = UserFactory(email="")
    mug = stocked_product(5)
    order_id = confirmed_order(silent, [(mug, 1)])
    # when
    with django_capture_on_commit_callbacks(execute=True):
        saga = advance(order_id)
    # then
    assert saga.saga_data["confirmation"] == "no_address"
    assert order(order_id).status == "PAID"
    assert mail.outbox == []


def test_without_a_read_model_row_the_email_is_built_from_the_events(customer: User) -> None:
    # given: a paid order whose read-model row is gone (a rebuild in progress, say)
    order_id = confirmed_order(customer, [(stocked_product(5), 2)])
    advance(order_id)
    OrderView.objects.filter(pk=order_id).delete()
    # when
    view, recipient = order_with_recipient(order_id)
    # then
    assert (view.order_id, view.status, view.customer_id) == (order_id, "PAID", customer.pk)
    assert recipient is not None
    assert recipient.email == customer.email
