"""Webhooks in the admin: subscriptions (add, edit, rotate the secret, ping, enable again)
and their deliveries (read, redeliver). The secret is shown once, in the message after
adding or rotating, and never again. A subscription disabled for failing says so in the
list (its status and a filter) and in a warning above the list."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from rest_framework import serializers

from commerce_project.admin import ReadOnlyModelAdmin, permission_check

from .api.serializers import validate_event_types
from .dispatch import ping
from .models import WebhookDelivery, WebhookSubscription
from .services import (
    delivery_redeliver,
    subscription_create,
    subscription_rotate_secret,
    subscription_update,
)
from .targets import TargetRefused, check_literal

CHANGE = "integrations.change_webhooksubscription"


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")

    class Meta:
        model = WebhookSubscription
        fields = ["url", "description", "event_types", "active"]
        help_texts = {
            "event_types": 'A JSON list of types, e.g. ["commerce.orders.OrderPaid"] or ["*"].'
        }

    def clean_url(self) -> str:
        url = str(self.cleaned_data["url"])
        try:
            check_literal(url)
        except TargetRefused as refusal:
            raise forms.ValidationError(str(refusal)) from None
        return url

    def clean_event_types(self) -> list[str]:
        value = self.cleaned_data["event_types"]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise forms.ValidationError("A JSON list of event type names.")
        try:
            return validate_event_types(value)
        except serializers.ValidationError as error:
            raise forms.ValidationError(" ".join(str(d) for d in error.detail)) from None


class DisabledForFailingFilter(admin.SimpleListFilter):
    title = "disabled for failing"
    parameter_name = "disabled"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "disabled for failing"), ("no", "not disabled")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(disabled_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(disabled_at__isnull=True)
        return queryset


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ("url", "description", "event_types", "active", "state", "created_at")
    list_filter = ("active", DisabledForFailingFilter)
    search_fields = ("url", "description")
    readonly_fields = (
        "id",
        "failing_since",
        "disabled_at",
        "disabled_reason",
        "created_at",
        "updated_at",
    )
    actions = ("rotate_secret", "send_ping", "enable")

    @admin.display(description="state")
    def state(self, obj: WebhookSubscription) -> str:
        if obj.disabled_at is not None:
            since = obj.failing_since or obj.disabled_at
            return f"DISABLED for failing since {since:%Y-%m-%d %H:%M} UTC"
        if not obj.active:
            return "paused"
        if obj.failing_since is not None:
            return f"failing since {obj.failing_since:%Y-%m-%d %H:%M} UTC"
        return "ok"

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        disabled = list(WebhookSubscription.objects.filter(disabled_at__isnull=False, active=False))
        if disabled:
            messages.error(
                request,
                f"{len(disabled)} webhook subscription(s) disabled for failing: "
                + ", ".join(s.url for s in disabled[:5])
                + ". Fix the receiver, then enable them again (action below).",
            )
        return super().changelist_view(request, extra_context)

    def save_model(
        self, request: HttpRequest, obj: WebhookSubscription, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        if not change:
            created, secret = subscription_create(
                url=data["url"], event_types=data["event_types"], description=data["description"]
            )
            if not data["active"]:
                subscription_update(created, active=False)
            obj.pk = created.pk
            messages.warning(
                request, f"Signing secret of {created.url} (shown once, copy it now): {secret}"
            )
            return
        changes = {field: data[field] for field in form.changed_data if field in data}
        if changes:
            subscription_update(WebhookSubscription.objects.get(pk=obj.pk), **changes)

    @admin.action(
        description="Rotate the signing secret (old one signs 24 h more)", permissions=["rotate"]
    )
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        for subscription in queryset:
            rotated, secret = subscription_rotate_secret(subscription)
            messages.warning(
                request, f"New signing secret of {rotated.url} (shown once, copy it now): {secret}"
            )

    @admin.action(description="Send a ping", permissions=["rotate"])
    def send_ping(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        for subscription in queryset:
            outcome = ping(subscription)
            level = messages.SUCCESS if outcome.delivered else messages.ERROR
            answer = outcome.status_code if outcome.status_code is not None else outcome.error
            messages.add_message(request, level, f"Ping {subscription.url}: {answer}")

    @admin.action(
        description="Enable again (clears a disabling for failures)", permissions=["rotate"]
    )
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        for subscription in queryset:
            subscription_update(subscription, active=True)
        messages.success(request, f"{queryset.count()} subscription(s) enabled.")

    has_rotate_permission = permission_check(CHANGE)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyModelAdmin):
    list_display = (
        "id",
        "subscription",
        "event_type",
        "event_id",
        "status",
        "attempts",
        "last_response_code",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "event_type")
    search_fields = ("event_id", "order_id", "subscription__url")
    list_select_related = ("subscription",)
    exclude = ("payload",)
    actions = ("redeliver",)

    @admin.action(description="Redeliver (from the first attempt)", permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        for delivery in queryset:
            delivery_redeliver(delivery)
        messages.success(request, f"{queryset.count()} delivery(ies) queued again.")

    has_redeliver_permission = permission_check(CHANGE)
