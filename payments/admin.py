from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from commerce_project.admin import ReadOnlyModelAdmin

from .models import Payment, SandboxCharge


class ReadOnlyAdmin(ReadOnlyModelAdmin):
    """Payments change only through the services (and the sandbox only through its API)."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "order_id",
        "amount",
        "currency",
        "status",
        "failure_code",
        "created_at",
        "updated_at",
    )
    list_filter = ("status", "currency", "created_at")
    search_fields = ("=id", "=order_id", "idempotency_key", "gateway_authorization_id")
    date_hierarchy = "created_at"


@admin.register(SandboxCharge)
class SandboxChargeAdmin(ReadOnlyAdmin):
    list_display = (
        "authorization_id",
        "token",
        "authorized_amount",
        "captured_amount",
        "refunded_amount",
        "currency",
        "status",
        "authorized_at",
    )
    list_filter = ("status", "token")
    search_fields = ("=authorization_id", "=capture_id")
