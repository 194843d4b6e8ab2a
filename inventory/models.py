"""Catalogue and stock tables.

Stock levels live in `StockItem` and change only through `inventory.services`, each change
in one conditional UPDATE guarded by CHECK constraints and written to the `StockMovement`
ledger in the same transaction, so `verify_stock` can recompute every level from the ledger.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q

# Stock changes beyond the catalogue row: the API's restock and the admin's actions.
RESTOCK_PRODUCT = "inventory.restock_product"
ADJUST_PRODUCT_STOCK = "inventory.adjust_product_stock"


class Product(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, help_text="ISO 4217 code, e.g. EUR.")
    active = models.BooleanField(default=True, help_text="Inactive products are not sold.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "products"
        ordering = ("name",)
        permissions = [
            ("restock_product", "Can restock products"),
            ("adjust_product_stock", "Can adjust product stock (counts, damage)"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_non_negative"),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="product_currency_iso"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class StockItem(models.Model):
    """One per product. `version` grows with every change: the optimistic lock of
    `stock_reserve`, and the order in which stock-cache writes may overwrite each other."""

    product = models.OneToOneField(
        Product, on_delete=models.CASCADE, primary_key=True, related_name="stock"
    )
    on_hand = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    version = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "stock_items"
        constraints = [
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_non_negative"),
            models.CheckConstraint(
                condition=Q(reserved__gte=0), name="stock_reserved_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("on_hand")), name="stock_reserved_within_on_hand"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.on_hand} on hand, {self.reserved} reserved"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Reservation(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "ACTIVE"
        COMMITTED = "COMMITTED"
        RELEASED = "RELEASED"
        EXPIRED = "EXPIRED"
        RETURNED = "RETURNED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order_id = models.UUIDField()
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="reservations")
    quantity = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "reservations"
        ordering = ("order_id", "product_id")
        constraints = [
            # Repeating a reservation step for one order can never hold stock twice.
            models.UniqueConstraint(
                fields=["order_id", "product"], name="reservation_order_product_unique"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="reservation_quantity_pos"),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=Q(status="ACTIVE"),
                name="reservation_active_expiry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.product_id} x{self.quantity} ({self.status})"


class StockMovement(models.Model):
    """The append-only ledger: summing the deltas of a product gives its stock levels."""

    class Kind(models.TextChoices):
        RESTOCK = "RESTOCK"
        ADJUST = "ADJUST"
        RESERVE = "RESERVE"
        RELEASE = "RELEASE"
        COMMIT = "COMMIT"
        EXPIRE = "EXPIRE"
        RETURN = "RETURN"

    id = models.BigAutoField(primary_key=True)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    on_hand_delta = models.IntegerField(default=0)
    reserved_delta = models.IntegerField(default=0)
    reference = models.CharField(
        max_length=64, blank=True, default="", help_text="The order id, for order movements."
    )
    actor = models.CharField(max_length=150, blank=True, default="")
    reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "stock_movements"
        ordering = ("-id",)
        indexes = [
            models.Index(fields=["product", "-id"], name="movement_product_recent"),
            models.Index(fields=["reference"], name="movement_reference"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.product_id} on_hand {self.on_hand_delta:+d} "
            f"reserved {self.reserved_delta:+d}"
        )
