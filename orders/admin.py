"""Back office for orders.

The order page is read-only (the read model is written only by its projection). The
transitions open from the order's current status appear as buttons; each one dispatches the
same command as the API, with the page's version as the expected version (a stale page gets
"the order changed" instead of acting on old information). A button shows only to staff
holding the transition's permission (see `TRANSITIONS` and the "support" group), by the
same rule as the command handler (`authorize`); the page offers it from the read model, and
the handler decides again against the order it loads, with the staff member as the actor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from commerce_project.admin import ReadOnlyModelAdmin
from commerce_project.errors import ApplicationError
from eventstore.commands import dispatch

from .admin_actions import order_page_action_get, order_page_actions_for
from .admin_forms import order_form_page, posted_version
from .admin_notes import NoteForm, may_add_notes, note_add_view
from .admin_refunds import partial_refund_button, partial_refund_urls
from .admin_timeline import order_version_view, timeline_html, version_url
from .commands import (
    CancelOrder,
    DeliverOrder,
    OrderCommand,
    RefundOrder,
    ShipOrder,
    actor_for_user,
)
from .domain import RULES, Actor, may
from .models import SHORT_REF_LENGTH, CustomerOrderStats, OrderView
from .projections import order_from_row
from .selectors import order_views_search

TRANSITION_FORM = "admin/orders/orderview/transition_form.html"
_REASON_HELP = "Lower snake case, e.g. damaged or out_of_stock."


class ReasonForm(forms.Form):
    reason = forms.RegexField(r"^[a-z][a-z0-9_]{0,63}$", help_text=_REASON_HELP)


class ShipForm(forms.Form):
    carrier = forms.CharField(max_length=64)
    tracking_number = forms.CharField(max_length=128)


class NoArgumentsForm(forms.Form):
    pass


@dataclass(frozen=True)
class AdminTransition:
    label: str
    form: type[forms.Form]
    # (order id, the page's version, the form's data, who acts) → the command.
    command: Callable[[UUID, int, dict[str, Any], Actor], OrderCommand]


def _cancel_command(
    order_id: UUID, version: int, data: dict[str, Any], actor: Actor
) -> OrderCommand:
    return CancelOrder(
        order_id=order_id, actor=actor, expected_version=version, reason=data["reason"]
    )


# The transitions staff run by hand. The others belong to the customer (lines, confirm) or
# to the saga (payment); the admin never offers them.
ADMIN_TRANSITIONS: dict[str, AdminTransition] = {
    "ship": AdminTransition(
        "Ship",
        ShipForm,
        lambda order_id, version, data, actor: ShipOrder(
            order_id=order_id, actor=actor, expected_version=version, **data
        ),
    ),
    "deliver": AdminTransition(
        "Mark delivered",
        NoArgumentsForm,
        lambda order_id, version, data, actor: DeliverOrder(
            order_id=order_id, actor=actor, expected_version=version
        ),
    ),
    # Both are CancelOrder: what cancelling means is the order's rule (cancellation_for).
    "cancel": AdminTransition("Cancel", ReasonForm, _cancel_command),
    "cancel_with_refund": AdminTransition("Cancel and refund", ReasonForm, _cancel_command),
    "refund": AdminTransition(
        "Refund",
        ReasonForm,
        lambda order_id, version, data, actor: RefundOrder(
            order_id=order_id, actor=actor, expected_version=version, reason=data["reason"]
        ),
    ),
}


def transitions_for(view: OrderView, user: Any) -> list[str]:
    """Admin transitions open from the order's status that this user may run: the order's
    own rules (`authorize`, the one the command handler applies), with the user as actor."""
    order = order_from_row(order_view_row_of(view))
    actor = actor_for_user(user)
    return [
        method
        for method in order.allowed_transitions()
        if method in ADMIN_TRANSITIONS and may(actor, method, customer_id=order.customer_id)
    ]


def order_view_row_of(view: OrderView) -> dict[str, Any]:
    return {field.attname: getattr(view, field.attname) for field in OrderView._meta.fields}


@admin.register(OrderView)
class OrderViewAdmin(ReadOnlyModelAdmin):
    """Read-only: the projection is the only writer; transitions go through commands."""

    list_display = (
        "order_id",
        "short_reference",
        "customer_email",
        "status",
        "payment_status",
        "total",
        "item_count",
        "created_at",
    )
    list_filter = ("status", "payment_status", "currency", "created_at")
    date_hierarchy = "created_at"
    search_fields = ("customer__email",)
    search_help_text = (
        "An order id, its 8-character reference (as in e-mails), a customer's e-mail or an "
        "SKU; case does not matter."
    )
    ordering = ("-created_at",)
    list_select_related = ("customer",)
    list_per_page = 50
    show_full_result_count = False
    change_form_template = "admin/orders/orderview/change_form.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "order_id",
                    "short_reference",
                    "customer_email",
                    "status",
                    "version",
                    "created_at",
                    "updated_at",
                )
            },
        ),
        ("Lines and totals", {"fields": ("lines_table", "total")}),
        (
            "Payment and fulfilment",
            {
                "fields": (
                    "payment_status",
                    "payment_id",
                    "saga_link",
                    "shipping_address_text",
                    "carrier",
                    "tracking_number",
                    "cancellation_reason",
                    "refund_reason",
                )
            },
        ),
        ("Event timeline", {"fields": ("event_timeline",)}),
    )
    readonly_fields = (
        "order_id",
        "short_reference",
        "customer_email",
        "status",
        "version",
        "created_at",
        "updated_at",
        "lines_table",
        "total",
        "payment_status",
        "payment_id",
        "saga_link",
        "shipping_address_text",
        "carrier",
        "tracking_number",
        "cancellation_reason",
        "refund_reason",
        "event_timeline",
    )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[OrderView], search_term: str
    ) -> tuple[QuerySet[OrderView], bool]:
        return order_views_search(queryset, search_term), False

    # --- columns and fields

    @admin.display(description="customer", ordering="customer__email")
    def customer_email(self, view: OrderView) -> str:
        return view.customer.email or str(view.customer_id)

    @admin.display(description="reference")
    def short_reference(self, view: OrderView) -> str:
        """As the customer's e-mails show the order (and the search finds it)."""
        return str(view.order_id)[:SHORT_REF_LENGTH]

    @admin.display(description="total")
    def total(self, view: OrderView) -> str:
        return f"{view.total_amount} {view.currency}"

    @admin.display(description="lines")
    def lines_table(self, view: OrderView) -> SafeString:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (i["sku"], i["name"], i["unit_price"], i["quantity"], i["line_total"])
                for i in view.items
            ),
        )
        return format_html(
            "<table><thead><tr><th>SKU</th><th>Name</th><th>Unit price</th><th>Quantity</th>"
            "<th>Line total</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="saga")
    def saga_link(self, view: OrderView) -> SafeString:
        # By URL name: the sagas app registers the page, orders does not import it.
        return format_html(
            '<a href="{}" id="order-saga-link">{}</a> (<a href="{}">API</a>)',
            reverse("admin:sagas_sagainstance_change", args=[view.saga_id]),
            view.saga_id,
            reverse("saga-detail", kwargs={"saga_id": view.saga_id}),
        )

    @admin.display(description="shipping address")
    def shipping_address_text(self, view: OrderView) -> str:
        a = view.shipping_address
        if not a:
            return "-"
        parts = [a["name"], a["line1"], a.get("line2", ""), a["postal_code"], a["city"]]
        return ", ".join(p for p in [*parts, a["country"]] if p)

    @admin.display(description="events (each version links to the order as it was then)")
    def event_timeline(self, view: OrderView) -> SafeString:
        return timeline_html(view.order_id)

    # --- pages of their own: transitions, time travel, notes, other apps' actions

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<uuid:order_id>/transition/<str:name>/",
                self.admin_site.admin_view(self.transition_view),
                name="orders_orderview_transition",
            ),
            path(
                "<uuid:order_id>/version/<int:version>/",
                self.admin_site.admin_view(self.version_view),
                name="orders_orderview_version",
            ),
            path(
                "<uuid:order_id>/notes/add/",
                self.admin_site.admin_view(self.note_add_view),
                name="orders_orderview_note_add",
            ),
            path(
                "<uuid:order_id>/action/<str:name>/",
                self.admin_site.admin_view(self.page_action_view),
                name="orders_orderview_action",
            ),
        ]
        return own + partial_refund_urls(self) + super().get_urls()

    def version_view(self, request: HttpRequest, order_id: UUID, version: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise Http404("No such order.")
        try:
            return order_version_view(self, request, order_id, version)
        except ApplicationError as exc:  # no such order, or no such version of it
            self.message_user(request, exc.detail, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:orders_orderview_changelist"))

    def note_add_view(self, request: HttpRequest, order_id: UUID) -> HttpResponse:
        return note_add_view(self, request, order_id)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """ "History" is the order's own: its current version, with the timeline to travel
        back through (the read model has no change log of its own)."""
        view = self.get_object(request, object_id)
        if view is None or not self.has_view_permission(request, view):
            raise Http404("No such order.")
        return HttpResponseRedirect(version_url(view.order_id, view.version))

    def page_action_view(self, request: HttpRequest, order_id: UUID, name: str) -> HttpResponse:
        view = OrderView.objects.filter(pk=order_id).first()
        action = order_page_action_get(name)
        if view is None or action is None or not self.has_view_permission(request):
            raise Http404("No such order action.")
        change_url = reverse("admin:orders_orderview_change", args=[order_id])
        if action not in order_page_actions_for(view, request.user):
            self.message_user(
                request,
                f"{action.label} is not available for this order or you lack its "
                f"permission ({action.permission}).",
                messages.ERROR,
            )
            return HttpResponseRedirect(change_url)
        if request.method == "POST":
            try:
                done = action.run(view, request.user)
            except ApplicationError as exc:
                self.message_user(request, f"{action.label} failed: {exc.detail}", messages.ERROR)
            else:
                self.message_user(request, done, messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        return order_form_page(
            self,
            request,
            template=TRANSITION_FORM,
            title=f"{action.label}: order {view.order_id}",
            order=view,
            form=NoArgumentsForm(),
            version=view.version,
            change_url=change_url,
        )

    # --- transition buttons

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        view = self.get_object(request, object_id)
        buttons = []
        if view is not None:
            for name in transitions_for(view, request.user):
                buttons.append(
                    {
                        "label": ADMIN_TRANSITIONS[name].label,
                        "url": reverse(
                            "admin:orders_orderview_transition", args=[view.order_id, name]
                        ),
                    }
                )
            for action in order_page_actions_for(view, request.user):
                buttons.append(
                    {
                        "label": action.label,
                        "url": reverse(
                            "admin:orders_orderview_action", args=[view.order_id, action.name]
                        ),
                    }
                )
            refund_part = partial_refund_button(view, request.user)
            if refund_part is not None:
                buttons.append(refund_part)
        context = {
            **(extra_context or {}),
            "transition_buttons": buttons,
            "note_form": NoteForm() if view is not None and may_add_notes(request.user) else None,
            "note_url": (
                reverse("admin:orders_orderview_note_add", args=[view.order_id])
                if view is not None
                else ""
            ),
        }
        return super().change_view(request, object_id, form_url, context)

    def transition_view(self, request: HttpRequest, order_id: UUID, name: str) -> HttpResponse:
        view = OrderView.objects.filter(pk=order_id).first()
        if view is None or name not in ADMIN_TRANSITIONS or not self.has_view_permission(request):
            raise Http404("No such order transition.")
        change_url = reverse("admin:orders_orderview_change", args=[order_id])
        if name not in transitions_for(view, request.user):
            self.message_user(
                request,
                f"{ADMIN_TRANSITIONS[name].label} is not available for this order "
                f"({view.status}) or you lack its permission ({RULES[name].permission}).",
                messages.ERROR,
            )
            return HttpResponseRedirect(change_url)
        spec = ADMIN_TRANSITIONS[name]
        version = view.version
        if request.method == "POST":
            posted = posted_version(request.POST.get("version"))
            if posted is None:
                # The form always carries the version it was shown at; without a usable one
                # the stale-page guard cannot work, so nothing is dispatched.
                self.message_user(
                    request,
                    f"{spec.label} failed: the form did not carry a valid order version "
                    "(a whole number). Reload the order and try again.",
                    messages.ERROR,
                )
                return HttpResponseRedirect(change_url)
            version = posted
        form = spec.form(request.POST or None)
        if request.method == "POST" and form.is_valid():
            # The button was offered from the read model; the handler decides again
            # against the order it loads (its status may have moved on since).
            command = spec.command(
                view.order_id, version, form.cleaned_data, actor_for_user(request.user)
            )
            try:
                dispatch(command)
            except ApplicationError as exc:
                self.message_user(request, f"{spec.label} failed: {exc.detail}", messages.ERROR)
            else:
                self.message_user(request, f"{spec.label}: done.", messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        return order_form_page(
            self,
            request,
            template=TRANSITION_FORM,
            title=f"{spec.label}: order {view.order_id}",
            order=view,
            form=form,
            version=version,
            change_url=change_url,
        )


@admin.register(CustomerOrderStats)
class CustomerOrderStatsAdmin(ReadOnlyModelAdmin):
    """The view over the asynchronous projection's order tallies: orders and lifetime value
    per customer."""

    list_display = (
        "customer_email",
        "currency",
        "orders_placed",
        "orders_paid",
        "orders_cancelled",
        "amount_paid",
        "amount_refunded",
        "lifetime_value",
        "last_order_at",
    )
    list_filter = ("currency",)
    search_fields = ("customer__email",)
    ordering = ("-amount_paid",)
    list_select_related = ("customer",)

    @admin.display(description="customer", ordering="customer__email")
    def customer_email(self, stats: CustomerOrderStats) -> str:
        return stats.customer.email or str(stats.customer_id)

    @admin.display(description="lifetime value")
    def lifetime_value(self, stats: CustomerOrderStats) -> str:
        return f"{stats.lifetime_value:.2f}"
