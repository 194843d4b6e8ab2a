"""Customer emails through Django's email framework (console backend in development, SMTP
in production, file backend for tests that run a real worker).

Each email is three templates under templates/emails/: `<name>_subject.txt`, `<name>.txt`
and `<name>.html` (multipart: text plus HTML alternative). Sending is I/O and must not happen
inside a database transaction — a rolled-back order must not have been announced, and a slow
mail server must not hold locks:
- `email_send` sends now; call it outside a transaction (saga steps run outside one) and let
  its errors surface so the caller can retry;
- `email_send_on_commit` is for code inside a transaction (event subscribers): it sends after
  the commit, and only logs a failure, because the commit cannot be undone.

Context for the order templates: order_id, customer_name, lines (each with name, quantity,
unit_price, line_total), total, currency; plus reason (cancelled, refunded), carrier and
tracking_number (shipped), refund_amount (refunded).
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

ORDER_CONFIRMED = "order_confirmed"
ORDER_PAID = "order_paid"
ORDER_SHIPPED = "order_shipped"
ORDER_CANCELLED = "order_cancelled"
ORDER_REFUNDED = "order_refunded"
TEMPLATES = (ORDER_CONFIRMED, ORDER_PAID, ORDER_SHIPPED, ORDER_CANCELLED, ORDER_REFUNDED)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def email_render(*, template: str, context: Mapping[str, Any]) -> RenderedEmail:
    if template not in TEMPLATES:
        raise ValueError(f"unknown email template {template!r}; known: {', '.join(TEMPLATES)}")
    values = dict(context)
    subject = render_to_string(f"emails/{template}_subject.txt", values)
    return RenderedEmail(
        subject=" ".join(subject.split()),  # one line: headers cannot hold newlines
        text=render_to_string(f"emails/{template}.txt", values),
        html=render_to_string(f"emails/{template}.html", values),
    )


def _message_id(idempotency_key: str) -> str:
    """The same logical email always carries the same Message-ID, so a retried send (at
    least once) can be recognised as a duplicate by mail systems that care."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def email_send(
    *,
    template: str,
    to: Sequence[str],
    context: Mapping[str, Any],
    idempotency_key: str | None = None,
) -> None:
    """Render and send now; raises what the mail backend raises."""
    _send_rendered(
        email_render(template=template, context=context),
        template=template,
        to=to,
        idempotency_key=idempotency_key,
    )


def _send_rendered(
    rendered: RenderedEmail, *, template: str, to: Sequence[str], idempotency_key: str | None
) -> None:
    headers = {"Message-ID": _message_id(idempotency_key)} if idempotency_key else {}
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(to),
        headers=headers,
    )
    message.attach_alternative(rendered.html, "text/html")
    message.send(fail_silently=False)
    logger.info("sent %s email to %d recipient(s)", template, len(to))


def _send_logging_failures(rendered: RenderedEmail, **kwargs: Any) -> None:
    try:
        _send_rendered(rendered, **kwargs)
    except Exception:  # the transaction has committed; a lost email is logged, not raised
        logger.exception("could not send %s email", kwargs.get("template"))


def email_send_on_commit(
    *,
    template: str,
    to: Sequence[str],
    context: Mapping[str, Any],
    idempotency_key: str | None = None,
) -> None:
    """Send after the current transaction commits (at once when there is none)."""
    # Render now, once: a template error surfaces in the caller, not after its commit, and
    # the message sent is the one rendered here.
    rendered = email_render(template=template, context=context)
    transaction.on_commit(
        functools.partial(
            _send_logging_failures,
            rendered,
            template=template,
            to=list(to),
            idempotency_key=idempotency_key,
        )
    )
