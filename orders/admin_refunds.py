"""The partial-refund form of the order page: an amount, or units of each line (with a
"back on the shelf" box), a reason code and a note, beside what is still refundable and the
refunds so far. It dispatches the API's command (RequestPartialRefund) with the staff member
as the actor and the page's version as the expected version; the order, loaded by the
handler, decides what is refundable, never this page. Offered to staff who may run
`refund_part` on the order (orders.refund_order), by the same rule as the handler.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse

from commerce_project.errors import ApplicationError
from eventstore.commands import dispatch

from .admin_forms import order_form_page, posted_version
from .commands import RequestPartialRefund, actor_for_user
from .domain import RULES, Order, RefundLine, may
from .models import OrderView
from .projections import order_from_row

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

PARTIAL_REFUND = "refund_part"
URL_NAME = "orders_orderview_partial_refund"


class PartialRefundForm(forms.Form):
    """Amount, or line quantities (fields `quantity_<product id>`, `restock_<product id>`,
    one pair per line with units left to return)."""

    amount = forms.DecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        help_text="Refund this much, or choose units below (not both).",
    )
    reason = forms.RegexField(
        r"^[a-z][a-z0-9_]{0,63}$", help_text="Lower snake case, e.g. damaged or price_match."
    )
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args: Any, order: Order, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line_fields: list[dict[str, Any]] = []
        for line in order.lines.values():
            left = line.quantity - order.returned_quantity(line.product_id)
            if left <= 0:
                continue
            quantity = f"quantity_{line.product_id}"
            restock = f"restock_{line.product_id}"
            self.fields[quantity] = forms.IntegerField(
                min_value=0, max_value=left, required=False, initial=0, label=line.sku
            )
            self.fields[restock] = forms.BooleanField(required=False, label="back on the shelf")
            self.line_fields.append(
                {
                    "line": line,
                    "left": left,
                    "quantity": self[quantity],
                    "restock": self[restock],
                    "product_id": line.product_id,
                }
            )

    def refund_lines(self) -> tuple[RefundLine, ...]:
        lines = []
        for entry in self.line_fields:
            product_id: UUID = entry["product_id"]
            quantity = self.cleaned_data.get(f"quantity_{product_id}") or 0
            if quantity:
                restock = bool(self.cleaned_data.get(f"restock_{product_id}"))
                lines.append(RefundLine(product_id=product_id, quantity=quantity, restock=restock))
        return tuple(lines)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        has_amount = cleaned.get("amount") is not None
        if has_amount == bool(self.refund_lines()):
            raise forms.ValidationError("Give either an amount or some units, not both.")
        return cleaned


def partial_refund_urls(model_admin: ModelAdmin[OrderView]) -> list[URLPattern]:
    def view(request: HttpRequest, order_id: UUID) -> HttpResponse:
        return partial_refund_view(model_admin, request, order_id)

    return [
        path(
            "<uuid:order_id>/refund-part/",
            model_admin.admin_site.admin_view(view),
            name=URL_NAME,
        )
    ]


def partial_refund_button(view: OrderView, user: Any) -> dict[str, str] | None:
    """The order page's button, when this user may refund part of this order now."""
    if not _offered(order_from_row(_row(view)), user):
        return None
    return {
        "label": f"Refund part ({view.refundable_amount} {view.currency} refundable)",
        "url": reverse(f"admin:{URL_NAME}", args=[view.order_id]),
    }


def partial_refund_view(
    model_admin: ModelAdmin[OrderView], request: HttpRequest, order_id: UUID
) -> HttpResponse:
    view = OrderView.objects.filter(pk=order_id).first()
    if view is None or not model_admin.has_view_permission(request):
        raise Http404("No such order.")
    change_url = reverse("admin:orders_orderview_change", args=[order_id])
    order = order_from_row(_row(view))
    if not _offered(order, request.user):
        model_admin.message_user(
            request,
            f"A partial refund is not available for this order ({view.status}) or you lack "
            f"its permission ({RULES[PARTIAL_REFUND].permission}).",
            messages.ERROR,
        )
        return HttpResponseRedirect(change_url)
    version = view.version
    if request.method == "POST":
        posted = posted_version(request.POST.get("version"))
        if posted is None:
            model_admin.message_user(
                request, "The form did not carry the order's version.", messages.ERROR
            )
            return HttpResponseRedirect(change_url)
        version = posted
    form = PartialRefundForm(request.POST or None, order=order)
    if request.method == "POST" and form.is_valid():
        command = RequestPartialRefund(
            order_id=order_id,
            actor=actor_for_user(request.user),
            expected_version=version,
            refund_id=uuid4(),
            amount=form.cleaned_data.get("amount"),
            lines=form.refund_lines(),
            reason=form.cleaned_data["reason"],
            note=form.cleaned_data["note"],
        )
        try:
            dispatch(command)
        except ApplicationError as exc:
            model_admin.message_user(request, f"Refund failed: {exc.detail}", messages.ERROR)
        else:
            model_admin.message_user(
                request, "Refund requested: the refund saga pays it back.", messages.SUCCESS
            )
        return HttpResponseRedirect(change_url)
    return order_form_page(
        model_admin,
        request,
        template="admin/orders/orderview/partial_refund_form.html",
        title=f"Refund part of order {view.order_id}",
        order=view,
        form=form,
        version=version,
        change_url=change_url,
    )


def _offered(order: Order, user: Any) -> bool:
    return PARTIAL_REFUND in order.allowed_transitions() and may(
        actor_for_user(user), PARTIAL_REFUND, customer_id=order.customer_id
    )


def _row(view: OrderView) -> dict[str, Any]:
    return {field.attname: getattr(view, field.attname) for field in OrderView._meta.fields}
