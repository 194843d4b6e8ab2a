from __future__ import annotations

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

MAX_DIGITS, DECIMAL_PLACES = 12, 2


class Payment(models.Model):
    """Our record of one payment of an order. The row is written before the gateway is called
    (intent, status PENDING) and updated with its answer, so a crash in between is repaired by
    repeating the call with the same idempotency key."""

    class Status(models.TextChoices):
        PENDING = "PENDING"
        AUTHORIZED = "AUTHORIZED"
        CAPTURED = "CAPTURED"
        VOIDED = "VOIDED"
        REFUNDED = "REFUNDED"
        FAILED = "FAILED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order_id = models.UUIDField(db_index=True)
    amount = models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    idempotency_key = models.CharField(
        max_length=255, unique=True, help_text="Key of the authorization; one payment per key."
    )
    # The first key used for each later operation wins, so a retry reuses it at the gateway.
    capture_idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    void_idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    refund_idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    gateway_authorization_id = models.CharField(max_length=64, blank=True)
    gateway_capture_id = models.CharField(max_length=64, blank=True)
    gateway_refund_id = models.CharField(max_length=64, blank=True)
    captured_amount = models.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, default=0
    )
    refunded_amount = models.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, default=0
    )
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    authorized_at = models.DateTimeField(null=True, blank=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "payments"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="payment_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} for order {self.order_id} ({self.status})"


class SandboxCharge(models.Model):
    """The sandbox gateway's own ledger: what the "bank" believes. Not ours to edit."""

    class Status(models.TextChoices):
        AUTHORIZED = "AUTHORIZED"
        CAPTURED = "CAPTURED"
        VOIDED = "VOIDED"

    authorization_id = models.CharField(max_length=64, primary_key=True)
    token = models.CharField(max_length=64)
    currency = models.CharField(max_length=3)
    authorized_amount = models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES)
    captured_amount = models.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, default=0
    )
    refunded_amount = models.DecimalField(
        max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, default=0
    )
    capture_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices)
    authorized_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    captured_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "payment_sandbox_charges"
        ordering = ["-authorized_at"]

    def __str__(self) -> str:
        return f"{self.authorization_id} {self.authorized_amount} {self.currency} ({self.status})"


class SandboxRequest(models.Model):
    """One idempotency key at the sandbox gateway: its request fingerprint, how often it was
    tried, and its final answer (a success or a permanent error), replayed on repeats."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "SUCCEEDED"
        DECLINED = "DECLINED"

    idempotency_key = models.CharField(max_length=255, primary_key=True)
    operation = models.CharField(max_length=16)
    fingerprint = models.CharField(max_length=64)
    attempts = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, null=True, blank=True)
    response = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "payment_sandbox_requests"

    def __str__(self) -> str:
        return f"{self.operation} {self.idempotency_key} ({self.outcome or 'open'})"


class PaymentRefund(models.Model):
    """One partial refund of a payment, written before the gateway is called (intent,
    PENDING) and updated with its answer, like the payment itself. Its id is the order's
    refund id, its key the saga step's; the payment's `refunded_amount` mirrors the gateway's
    total (all refunds, ours and any made in its dashboard)."""

    class Status(models.TextChoices):
        PENDING = "PENDING"
        SUCCEEDED = "SUCCEEDED"
        # The gateway refused it, or it never reached the gateway (reconciled): no money moved.
        FAILED = "FAILED"

    id = models.UUIDField(primary_key=True, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES)
    idempotency_key = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    gateway_refund_id = models.CharField(max_length=64, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "payment_refunds"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="payment_refund_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"refund {self.amount} of payment {self.payment_id} ({self.status})"
