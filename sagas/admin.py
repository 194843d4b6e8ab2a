"""Back office for sagas: find them by status, type and age, read every attempt, and act on
FAILED ones (retry the failing compensation, compensate, or mark resolved by hand). Each
action needs its permission (sagas.retry_saga, compensate_saga, resolve_saga); a user who
may only view sees the sagas and no actions.

A saga changes only through its engine and those actions, so its page is read-only for
everyone (no Save buttons, titled "View saga instance"): the saga's fields, links to its
order and payments, and a timeline of every attempt from the step log."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from commerce_project.admin import permission_check
from commerce_project.errors import ApplicationError
from payments.models import Payment

from .admin_timeline import timeline_html
from .models import COMPENSATE_SAGA, RESOLVE_SAGA, RETRY_SAGA, SagaInstance
from .services import saga_compensate, saga_mark_resolved, saga_retry

_AGES = {
    "5m": ("younger than 5 minutes", timedelta(minutes=5), True),
    "1h": ("younger than 1 hour", timedelta(hours=1), True),
    "1d": ("younger than 1 day", timedelta(days=1), True),
    "gt1d": ("older than 1 day", timedelta(days=1), False),
    "gt7d": ("older than 7 days", timedelta(days=7), False),
}


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _, _) in _AGES.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        choice = _AGES.get(self.value() or "")
        if choice is None:
            return queryset
        _, age, younger = choice
        cutoff = timezone.now() - age
        return (
            queryset.filter(created_at__gte=cutoff)
            if younger
            else queryset.filter(created_at__lt=cutoff)
        )


def _order_id(saga: SagaInstance) -> uuid.UUID | None:
    raw = (saga.saga_data or {}).get("order_id")
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None


@admin.register(SagaInstance)
class SagaInstanceAdmin(admin.ModelAdmin):
    list_display = (
        "saga_id",
        "saga_type",
        "status",
        "current_step",
        "attempts",
        "failure_reason",
        "correlation_id",
        "created_at",
        "updated_at",
    )
    list_filter = ("status", "saga_type", AgeFilter)
    search_fields = ("=saga_id", "correlation_id", "=owner_id")
    date_hierarchy = "created_at"
    actions = ["retry", "compensate", "mark_resolved"]
    # What staff come for first: where the saga stands, then every field.
    fieldsets = (
        ("Order and payment", {"fields": ("order_link", "payment_links")}),
        ("Timeline", {"fields": ("step_timeline",)}),
        ("Saga", {"fields": tuple(f.name for f in SagaInstance._meta.fields)}),
    )
    readonly_fields = (
        *(f.name for f in SagaInstance._meta.fields),
        "order_link",
        "payment_links",
        "step_timeline",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Never edited by hand: the actions below are the only changes staff make.
        return False

    @admin.display(description="order")
    def order_link(self, saga: SagaInstance) -> SafeString | str:
        order_id = _order_id(saga)
        if order_id is None:
            return "-"
        return format_html(
            '<a href="{}" id="saga-order-link">{}</a>',
            reverse("admin:orders_orderview_change", args=[order_id]),
            order_id,
        )

    @admin.display(description="payments")
    def payment_links(self, saga: SagaInstance) -> SafeString | str:
        order_id = _order_id(saga)
        payments = (
            Payment.objects.filter(order_id=order_id).order_by("created_at") if order_id else []
        )
        if not payments:
            return "-"
        return format_html_join(
            ", ",
            '<a href="{}" class="saga-payment-link">{} {} {} ({})</a>',
            (
                (
                    reverse("admin:payments_payment_change", args=[p.pk]),
                    p.pk,
                    p.amount,
                    p.currency,
                    p.status,
                )
                for p in payments
            ),
        )

    @admin.display(description="timeline of every attempt (ms after the saga was created)")
    def step_timeline(self, saga: SagaInstance) -> SafeString:
        return timeline_html(saga.created_at, list(saga.step_log.order_by("started_at", "id")))

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def _apply(
        self,
        request: HttpRequest,
        queryset: QuerySet[SagaInstance],
        verb: str,
        operation: Callable[[SagaInstance], SagaInstance],
    ) -> None:
        done = 0
        for saga in queryset:
            try:
                updated = operation(saga)
            except ApplicationError as exc:
                self.message_user(request, f"{saga.saga_id}: {exc.detail}", messages.WARNING)
                continue
            self.log_change(request, updated, f"{verb} (now {updated.status})")
            done += 1
        if done:
            self.message_user(request, f"{verb}: {done} saga(s).", messages.SUCCESS)

    has_retry_permission = permission_check(RETRY_SAGA)
    has_compensate_permission = permission_check(COMPENSATE_SAGA)
    has_resolve_permission = permission_check(RESOLVE_SAGA)

    @admin.action(
        description="Retry the failing compensation (FAILED sagas)", permissions=["retry"]
    )
    def retry(self, request: HttpRequest, queryset: QuerySet[SagaInstance]) -> None:
        actor = request.user.get_username()
        self._apply(
            request, queryset, "Retried", lambda s: saga_retry(saga_id=s.saga_id, actor=actor)
        )

    @admin.action(description="Compensate (RUNNING or FAILED sagas)", permissions=["compensate"])
    def compensate(self, request: HttpRequest, queryset: QuerySet[SagaInstance]) -> None:
        actor = request.user.get_username()
        self._apply(
            request,
            queryset,
            "Compensation started",
            lambda s: saga_compensate(saga_id=s.saga_id, actor=actor),
        )

    @admin.action(description="Mark resolved by hand (FAILED sagas)", permissions=["resolve"])
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[SagaInstance]) -> None:
        actor = request.user.get_username()
        self._apply(
            request,
            queryset,
            "Marked resolved",
            lambda s: saga_mark_resolved(saga_id=s.saga_id, actor=actor),
        )
