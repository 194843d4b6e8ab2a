"""Read models of the orders app. Only their projections (projections.py) write them.

The Order aggregate (domain.py) is an unmanaged model without a table; importing it here
registers it with the app so django-fsm's `graph_transitions` and the admin find it.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import JSONField, Value
from django.db.models.functions import Cast, Left

from .domain import ORDER_STATUSES, Order, PaymentStatus

__all__ = ["CustomerOrderStats", "Order", "OrderTally", "OrderView"]


# The reference customers read in their e-mails: the first 8 characters of the order id.
SHORT_REF_LENGTH = 8
SHORT_REF = Left(Cast("order_id", models.TextField()), SHORT_REF_LENGTH)


class OrderView(models.Model):
    """One row per order, upserted by the inline OrderView projection in the transaction that
    appends the order's events; `version` is the stream version the row reflects."""

    order_id = models.UUIDField(primary_key=True)
    # No database constraint: the read model must be rebuildable in any order. No index of
    # its own either: (customer_id, created_at) below serves lookups by customer.
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    status = models.CharField(max_length=16, choices=[(s.value, s.label) for s in ORDER_STATUSES])
    payment_status = models.CharField(max_length=20, choices=PaymentStatus.choices)
    currency = models.CharField(max_length=3)
    total_amount = models.DecimalField(max_digits=14, decimal_places=2)
    item_count = models.PositiveIntegerField(default=0)
    items = models.JSONField(default=list)
    # The lines' SKUs in lower case, for the back office's case-insensitive SKU search
    # (a GIN index answers `skus @> '["sku"]'`); written by the projection like the rest.
    skus = models.JSONField(default=list)
    shipping_address = models.JSONField(null=True, blank=True)
    version = models.PositiveIntegerField()
    saga_id = models.UUIDField()
    payment_id = models.UUIDField(null=True, blank=True)
    cancellation_reason = models.CharField(max_length=64, blank=True, default="")
    refund_reason = models.CharField(max_length=64, blank=True, default="")
    carrier = models.CharField(max_length=64, blank=True, default="")
    tracking_number = models.CharField(max_length=128, blank=True, default="")
    # Money of partial and full refunds: what was captured, what came back, what may still
    # be asked for; `refunds` lists each partial refund (projections.refund_json). Database
    # defaults too, for rows written by SQL alone (bulk fills in benchmarks and tests).
    captured_amount = models.DecimalField(max_digits=14, decimal_places=2, default=0, db_default=0)
    refunded_amount = models.DecimalField(max_digits=14, decimal_places=2, default=0, db_default=0)
    refundable_amount = models.DecimalField(
        max_digits=14, decimal_places=2, default=0, db_default=0
    )
    refunds = models.JSONField(default=list, blank=True, db_default=Value([], JSONField()))
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "order_views"
        verbose_name = "order"
        verbose_name_plural = "orders"
        # The list endpoint: a customer's own orders, or staff filtering by status, both
        # newest first; ties broken by order_id for stable pages.
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="order_views_customer_created"),
            models.Index(fields=["status", "-created_at"], name="order_views_status_created"),
            models.Index(fields=["-created_at", "order_id"], name="order_views_created"),
            # Back-office search: the short reference (the id's first 8 hex characters, as
            # e-mails show it; see SHORT_REF) and an SKU among the lines.
            models.Index(SHORT_REF, name="order_views_short_ref"),
            GinIndex(fields=["skus"], opclasses=["jsonb_path_ops"], name="order_views_skus"),
        ]

    def __str__(self) -> str:
        return f"Order {self.order_id} ({self.status})"


class CustomerMoney(models.Model):
    """The columns the per-order tallies and the per-customer statistics share."""

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the (customer, currency) index of the tallies serves lookups
        related_name="+",
    )
    currency = models.CharField(max_length=3)
    amount_paid = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    amount_refunded = models.DecimalField(max_digits=16, decimal_places=2, default=0)

    class Meta:
        abstract = True


class OrderTally(CustomerMoney):
    """What one order adds to its customer's statistics: how often it was placed
    (OrderConfirmed), paid and cancelled, the money paid and refunded. One row per order,
    folded from the order's stream by the asynchronous `customer_order_stats` projection and
    guarded by the stream version like any read model, so it can be rebuilt and verified.
    The view `customer_order_stats` (CustomerOrderStats) sums the rows per customer."""

    order_id = models.UUIDField(primary_key=True)
    placed = models.PositiveIntegerField(default=0)
    paid = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # Time of the last event counted; None while the order is a draft (no statistics yet).
    counted_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField()

    class Meta:
        db_table = "order_tallies"
        indexes = [models.Index(fields=["customer", "currency"], name="order_tallies_customer")]

    def __str__(self) -> str:
        return f"Order {self.order_id} of {self.customer_id}"


class CustomerOrderStats(CustomerMoney):
    """Per customer and currency: orders placed and paid, money paid and refunded. A view
    over the order tallies (migration 0004), so it lags the orders like the asynchronous
    projection that writes them; read-only."""

    id = models.CharField(primary_key=True, max_length=64)  # "<customer_id>/<currency>"
    orders_placed = models.PositiveIntegerField(default=0)
    orders_paid = models.PositiveIntegerField(default=0)
    orders_cancelled = models.PositiveIntegerField(default=0)
    last_order_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "customer_order_stats"
        verbose_name = "customer order statistics"
        verbose_name_plural = "customer order statistics"

    def __str__(self) -> str:
        return f"{self.customer_id} {self.currency}"

    @property
    def lifetime_value(self) -> Decimal:
        return Decimal(self.amount_paid) - Decimal(self.amount_refunded)


class OrderEventTally(models.Model):
    """Per order: how many events of each type its stream holds (`counts`, event type to
    number), folded by the asynchronous `order_event_tallies` projection. `/metrics` sums it
    for `commerce_order_events_total` instead of scanning `events`; one row per order, like
    `order_views`, so it can be rebuilt and verified like any read model."""

    order_id = models.UUIDField(primary_key=True)
    version = models.PositiveIntegerField()
    counts = models.JSONField(default=dict)

    class Meta:
        db_table = "order_event_tallies"

    def __str__(self) -> str:
        return f"Order {self.order_id}: {self.counts}"
