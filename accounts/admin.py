"""Admin for users and their sign-in tokens. Deleting a user or a token, and changing what
signs a user in, go through the token cache's protocol (accounts.token_cache) like the API
does: bulk deletes run per object so none of them skips it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from knox.admin import AuthTokenAdmin as KnoxAuthTokenAdmin
from knox.models import AuthToken

from . import services
from .models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "is_staff", "is_active", "date_joined")
    search_fields = ("username", "email", "id")
    ordering = ("-date_joined",)
    actions = ["log_out_everywhere"]

    @admin.action(description="Log out everywhere (revoke every token)")
    def log_out_everywhere(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        revoked = sum(services.tokens_revoke_all(user_id=user.pk) for user in queryset)
        self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            user.delete()


admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class AuthTokenAdmin(KnoxAuthTokenAdmin):
    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.token_revoke(user_id=obj.user_id, digest=obj.digest)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for token in queryset:
            services.token_revoke(user_id=token.user_id, digest=token.digest)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a token is issued or revoked, never edited
