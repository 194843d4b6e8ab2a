"""Who may call an endpoint: one family for staff.

`is_staff(user)` is the one test of being staff; `IsStaff` turns everyone else away early
(where the command handler decides the rest against the loaded object); `StaffPermission`
asks for model permissions too, since being staff is not enough, as in the admin:

    permission_classes = [StaffPermission.requiring("sagas.retry_saga")]

or, per action of a viewset, instances from `get_permissions`:

    return [StaffPermission("inventory.change_product")]

Anonymous callers get 401 (`not-authenticated`), anyone else without every named
permission 403 (`forbidden`) naming what is missing. A superuser holds every permission.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


def is_staff(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_staff)


def require_permissions(user: Any, *permissions: str) -> None:
    """Raise 403 unless `user` is active staff holding every one of `permissions`."""
    missing = [p for p in permissions if not user.has_perm(p)]
    if not is_staff(user) or missing:
        needed = ", ".join(missing or permissions)
        raise PermissionDenied(f"This needs staff with the permission {needed}.")


class StaffPermission(BasePermission):
    def __init__(self, *permissions: str) -> None:
        self.permissions = permissions

    @classmethod
    def requiring(cls, *permissions: str) -> Any:
        """A factory DRF can instantiate without arguments (for `permission_classes`)."""
        return lambda: cls(*permissions)

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False  # DRF answers 401 to an unauthenticated caller
        require_permissions(request.user, *self.permissions)
        return True


class IsStaff(BasePermission):
    """Staff only: anonymous callers get 401, customers 403."""

    message = "Only staff may do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return is_staff(request.user)
