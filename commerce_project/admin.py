"""Admin pieces shared by the apps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format


def admin_datetime(value: datetime | None) -> str:
    """A moment as every admin page shows it: local time with seconds and the time zone
    (the DATETIME_FORMAT of commerce_project.formats), "-" for none."""
    if value is None:
        return "-"
    return date_format(timezone.localtime(value), "DATETIME_FORMAT")


def permission_check(permission: str) -> Callable[[admin.ModelAdmin, HttpRequest], bool]:
    """A `has_<name>_permission` method for an admin action declared with
    `@admin.action(permissions=["<name>"])`: the action shows and runs only for users
    holding `permission` (`app_label.codename`), the one the API requires for the same
    change. An action without `permissions` is open to anyone who can see the list."""

    def check(model_admin: admin.ModelAdmin, request: HttpRequest) -> bool:
        return request.user.has_perm(permission)

    check.__doc__ = f"Holds {permission}."
    return check


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """For tables that change only through their services or projections (events, ledgers,
    payments, read models): staff may look, never add, edit or delete."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
