"""Sandbox gateways with a test hook, chosen through PAYMENT_GATEWAY (also by a real worker,
through its environment). The outside world is the one thing tests may stand in for.

- CaptureHoldingGateway: once the sandbox has captured, the call waits on the PostgreSQL
  advisory lock HOLD_LOCK for as long as the test holds it, so a worker is caught inside the
  capture step after the money moved and before our side recorded it: the worst moment to
  die. `hold()` takes the lock, `waiting()` says whether a capture is held.
- CancellingCaptureGateway: the customer cancels the order right after the capture, before
  the saga can mark it PAID.
- CaptureLosingGateway: the sandbox captures, then the call raises `WorkerDied` instead of
  answering — in this process, what a worker killed right after the bank captured leaves.
- RefundAnswerLosingGateway: the sandbox refunds, and every answer is lost on the way back
  (a timeout after the bank acted): the caller only ever sees a transient error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

from django.db import connection, connections

from payments.exceptions import PaymentTransientError
from payments.gateway import Capture, Refund
from payments.models import Payment
from payments.sandbox import SandboxGateway
from tests.sagas.shop import cancelled_by_customer

HOLD_LOCK = 74_210_001


class CaptureHoldingGateway(SandboxGateway):
    def capture(self, *, authorization_id: str, amount: Decimal, idempotency_key: str) -> Capture:
        captured = super().capture(
            authorization_id=authorization_id, amount=amount, idempotency_key=idempotency_key
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [HOLD_LOCK])
            cursor.execute("SELECT pg_advisory_unlock(%s)", [HOLD_LOCK])
        return captured


@contextmanager
def hold(alias: str = "default") -> Iterator[None]:
    """Hold HOLD_LOCK on this thread's connection (session level, so it survives commits)."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [HOLD_LOCK])
    try:
        yield
    finally:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [HOLD_LOCK])


def waiting() -> int:
    """How many sessions wait for HOLD_LOCK right now (a bigint key: objid is its low half)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND objid = %s",
            [HOLD_LOCK],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


class CancellingCaptureGateway(SandboxGateway):
    def capture(self, *, authorization_id: str, amount: Decimal, idempotency_key: str) -> Capture:
        captured = super().capture(
            authorization_id=authorization_id, amount=amount, idempotency_key=idempotency_key
        )
        cancelled_by_customer(
            Payment.objects.get(gateway_authorization_id=authorization_id).order_id
        )
        return captured


class WorkerDied(Exception):
    """Stands for the worker dying: nothing after the gateway's capture is recorded."""


class CaptureLosingGateway(SandboxGateway):
    def capture(self, *, authorization_id: str, amount: Decimal, idempotency_key: str) -> Capture:
        super().capture(
            authorization_id=authorization_id, amount=amount, idempotency_key=idempotency_key
        )
        raise WorkerDied("killed after the bank captured")


class RefundAnswerLosingGateway(SandboxGateway):
    def refund(self, *, capture_id: str, amount: Decimal, idempotency_key: str) -> Refund:
        super().refund(capture_id=capture_id, amount=amount, idempotency_key=idempotency_key)
        raise PaymentTransientError("The gateway timed out.", code="gateway_timeout")
