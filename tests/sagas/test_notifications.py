"""Customer emails: text and HTML templates, sent only after the transaction commits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from pytest_django import DjangoCaptureOnCommitCallbacks

from sagas.notifications import TEMPLATES, email_render, email_send, email_send_on_commit

CONTEXT: dict[str, Any] = {
    "order_id": "0b9f2c1e-1111-4222-8333-944445555666",
    "customer_name": "Ada <Lovelace>",
    "lines": [
        {
            "name": "Tea & biscuits",
            "quantity": 2,
            "unit_price": Decimal("3.50"),
            "line_total": Decimal("7.00"),
        }
    ],
    "total": Decimal("7.00"),
    "currency": "EUR",
    "reason": "payment_declined",
    "carrier": "DHL",
    "tracking_number": "JD0123",
    "refund_amount": Decimal("7.00"),
}


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_template_renders_subject_text_and_html(template: str) -> None:
    # when
    email = email_render(template=template, context=CONTEXT)
    # then
    assert "0b9f2c1e" in email.subject
    assert "\n" not in email.subject
    assert "Ada <Lovelace>" in email.text  # plain text is not HTML-escaped
    assert "Ada &lt;Lovelace&gt;" in email.html  # HTML is
    assert "Tea & biscuits" in email.text
    assert "7.00 EUR" in email.text
    assert email.html.lstrip().startswith("<!DOCTYPE html>")


def test_shipped_and_cancelled_emails_say_what_happened() -> None:
    shipped = email_render(template="order_shipped", context=CONTEXT)
    cancelled = email_render(template="order_cancelled", context={**CONTEXT, "refund_amount": 0})
    assert "Tracking number: JD0123" in shipped.text
    assert "payment_declined" in cancelled.text
    assert "No money has been taken." in cancelled.text


def test_unknown_template_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown email template"):
        email_render(template="order_lost", context=CONTEXT)


def test_email_send_sends_text_with_an_html_alternative_and_a_stable_message_id() -> None:
    # when
    for _ in range(2):
        email_send(
            template="order_paid", to=["ada@example.com"], context=CONTEXT, idempotency_key="k"
        )
    # then
    first, second = mail.outbox
    assert isinstance(first, EmailMultiAlternatives)
    assert first.to == ["ada@example.com"]
    assert first.alternatives[0][1] == "text/html"
    assert first.extra_headers["Message-ID"] == second.extra_headers["Message-ID"]


def confirm_then_fail(to: str) -> None:
    with transaction.atomic():
        email_send_on_commit(template="order_confirmed", to=[to], context=CONTEXT)
        raise RuntimeError("rolled back")


@pytest.mark.django_db
def test_email_send_on_commit_waits_for_the_commit_and_skips_rollbacks(
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        # when: one transaction rolls back, one commits
        with pytest.raises(RuntimeError):
            confirm_then_fail("a@example.com")
        with transaction.atomic():
            email_send_on_commit(template="order_confirmed", to=["b@example.com"], context=CONTEXT)
            # then: nothing is sent inside the transaction
            assert mail.outbox == []
    # then: only the committed one is sent
    assert [message.to for message in mail.outbox] == [["b@example.com"]]
