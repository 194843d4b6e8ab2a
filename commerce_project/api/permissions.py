"""Model permissions for staff endpoints: being staff is not enough, as in the admin.

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


def require_permissions(user: Any, *permissions: str) -> None:
    """Raise 403 unless `user` is active staff holding every one of `permissions`."""
    missing = [p for p in permissions if not user.has_perm(p)]
    if not getattr(user, "is_staff", False) or missing:
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
