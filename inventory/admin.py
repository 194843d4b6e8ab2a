"""Admin: the catalogue with its stock, a restock action, the ledger and reservations.

Stock numbers are read-only here: every change goes through `inventory.services`, so the
admin writes the same ledger rows and cache updates as the API. The restock action needs
inventory.restock_product (as the API's restock does), adjusting inventory.adjust_product_stock."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from commerce_project.admin import ReadOnlyModelAdmin, permission_check
from commerce_project.errors import ApplicationError

from . import services
from .models import (
    ADJUST_PRODUCT_STOCK,
    RESTOCK_PRODUCT,
    Product,
    Reservation,
    StockItem,
    StockMovement,
)
from .selectors import product_entry
from .stock_cache import product_cache_write_on_commit


class StockItemInline(admin.StackedInline):
    model = StockItem
    can_delete = False
    extra = 0
    max_num = 1
    fields = ("on_hand", "reserved", "available", "version", "updated_at")
    readonly_fields = fields

    @admin.display(description="available")
    def available(self, item: StockItem) -> int:
        return item.available

    def has_add_permission(self, request: HttpRequest, obj: Product | None = None) -> bool:
        return False


class StockChangeForm(forms.Form):
    quantity = forms.IntegerField(min_value=1, max_value=1_000_000)
    reason = forms.CharField(max_length=500, required=False)


class StockAdjustForm(forms.Form):
    delta = forms.IntegerField(help_text="Positive adds units, negative removes them.")
    reason = forms.CharField(max_length=500)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "price", "currency", "active", "on_hand", "reserved")
    list_filter = ("active", "currency")
    search_fields = ("sku", "name", "id")
    ordering = ("name",)
    readonly_fields = ("id", "created_at", "updated_at")
    inlines = (StockItemInline,)
    actions = ("restock", "adjust_stock")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return super().get_queryset(request).select_related("stock")

    def get_readonly_fields(self, request: HttpRequest, obj: Product | None = None) -> Any:
        # The SKU is the product's identity once it exists.
        return (*self.readonly_fields, "sku") if obj else self.readonly_fields

    @admin.display(description="on hand")
    def on_hand(self, product: Product) -> int:
        return product.stock.on_hand

    @admin.display(description="reserved")
    def reserved(self, product: Product) -> int:
        return product.stock.reserved

    def save_model(self, request: HttpRequest, obj: Product, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            services.stock_item_initialize(product=obj)
        product_cache_write_on_commit([product_entry(obj)])

    has_restock_permission = permission_check(RESTOCK_PRODUCT)
    has_adjust_stock_permission = permission_check(ADJUST_PRODUCT_STOCK)

    @admin.action(description="Restock selected products", permissions=["restock"])
    def restock(self, request: HttpRequest, queryset: QuerySet[Product]) -> HttpResponse | None:
        return self._stock_form(request, queryset, StockChangeForm, "restock")

    @admin.action(
        description="Adjust stock of selected products (count, damage)",
        permissions=["adjust_stock"],
    )
    def adjust_stock(
        self, request: HttpRequest, queryset: QuerySet[Product]
    ) -> HttpResponse | None:
        return self._stock_form(request, queryset, StockAdjustForm, "adjust_stock")

    def _stock_form(
        self,
        request: HttpRequest,
        queryset: QuerySet[Product],
        form_class: type[forms.Form],
        action: str,
    ) -> HttpResponse | None:
        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            actor = request.user.get_username()
            reason = form.cleaned_data["reason"]
            changed = 0
            for product in queryset:
                try:
                    if action == "restock":
                        services.stock_restock(
                            product_id=product.id,
                            quantity=form.cleaned_data["quantity"],
                            actor=actor,
                            reason=reason,
                        )
                    else:
                        services.stock_adjust(
                            product_id=product.id,
                            delta=form.cleaned_data["delta"],
                            actor=actor,
                            reason=reason,
                        )
                    changed += 1
                except ApplicationError as exc:
                    self.message_user(request, f"{product.sku}: {exc.detail}", messages.ERROR)
            self.message_user(request, f"Stock changed for {changed} products.", messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Restock" if action == "restock" else "Adjust stock",
            "products": queryset,
            "form": form,
            "action": action,
            "opts": self.model._meta,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/inventory/stock_form.html", context)


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyModelAdmin):
    list_display = (
        "created_at",
        "product",
        "kind",
        "on_hand_delta",
        "reserved_delta",
        "reference",
        "actor",
        "reason",
    )
    list_filter = ("kind", "created_at")
    search_fields = ("product__sku", "product__name", "reference", "actor")
    list_select_related = ("product",)
    date_hierarchy = "created_at"


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyModelAdmin):
    list_display = ("order_id", "product", "quantity", "status", "expires_at", "updated_at")
    list_filter = ("status", "expires_at")
    search_fields = ("order_id", "product__sku")
    list_select_related = ("product",)
