from __future__ import annotations

from typing import Any

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

VIEW_FEED = "eventstore.view_feed"


class CanReadFeed(BasePermission):
    """Holders of `eventstore.view_feed` (staff or an integration account, which need not
    be staff); anonymous callers 401, everyone else 403."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False  # DRF answers 401 to an unauthenticated caller
        if not user.has_perm(VIEW_FEED):
            raise PermissionDenied(f"This needs the permission {VIEW_FEED}.")
        return True
