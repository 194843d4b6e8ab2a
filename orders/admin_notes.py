"""Internal notes from the order page: a form that dispatches AddOrderNote, the command the
API's `POST orders/{id}/notes/` dispatches, with the staff member as the actor (the handler
decides against the loaded order whether they may: orders.add_order_note)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from commerce_project.errors import ApplicationError
from eventstore.commands import dispatch

from .commands import AddOrderNote, actor_for_user
from .domain import ADD_NOTE, NOTE_MAX_LENGTH


class NoteForm(forms.Form):
    text = forms.CharField(
        label="Internal note",
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Staff only: the customer never sees it.",
    )


def may_add_notes(user: Any) -> bool:
    """Whether the page offers the form (the command handler decides again)."""
    return bool(user.is_staff and user.has_perm(ADD_NOTE.permission))


def note_add_view(
    model_admin: ModelAdmin[Any], request: HttpRequest, order_id: UUID
) -> HttpResponse:
    if request.method != "POST" or not model_admin.has_view_permission(request):
        raise Http404("Notes are added from the order page.")
    change_url = reverse("admin:orders_orderview_change", args=[order_id])
    form = NoteForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(str(e) for e in form.errors.get("text", []))
        model_admin.message_user(request, f"The note was not added: {errors}", messages.ERROR)
        return HttpResponseRedirect(change_url)
    try:
        dispatch(
            AddOrderNote(
                order_id=order_id,
                actor=actor_for_user(request.user),
                author_name=request.user.get_username(),
                text=form.cleaned_data["text"],
            )
        )
    except ApplicationError as exc:
        model_admin.message_user(request, f"The note was not added: {exc.detail}", messages.ERROR)
    else:
        model_admin.message_user(request, "Note added.", messages.SUCCESS)
    return HttpResponseRedirect(change_url)
