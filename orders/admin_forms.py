"""What the order page's forms share (transitions, page actions, partial refunds): the
version a form was shown at, and the page that shows a form for one order."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin import ModelAdmin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from .models import OrderView

_MAX_VERSION_DIGITS = 18  # stream versions are bigint


def posted_version(raw: str | None) -> int | None:
    """The version a form was shown at, or None when it is missing or not a non-negative
    whole number that fits a stream version."""
    if raw is None:
        return None
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_VERSION_DIGITS:
        return None
    return int(text)


def order_form_page(
    model_admin: ModelAdmin[Any],
    request: HttpRequest,
    *,
    template: str,
    title: str,
    order: OrderView,
    form: forms.Form,
    version: int,
    change_url: str,
) -> TemplateResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "order": order,
        "form": form,
        "version": version,
        "change_url": change_url,
    }
    return TemplateResponse(request, template, context)
