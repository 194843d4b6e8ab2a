"""Integration accounts: users that other services log in as to read the feed. They are
not staff (no admin), have no password, and hold `eventstore.view_feed` only."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.db import transaction

from accounts.models import User
from accounts.services import token_issue
from commerce_project.errors import ConflictError

VIEW_FEED_APP_LABEL, VIEW_FEED_CODENAME = "eventstore", "view_feed"


class IntegrationClientExists(ConflictError):
    type = "integration-client-exists"
    title = "An account with that name exists already"


def integration_client_create(*, name: str) -> tuple[User, str]:
    """A new integration account named `name` and its API token (the secret to hand over)."""
    with transaction.atomic():
        if User.objects.filter(username__iexact=name).exists():
            raise IntegrationClientExists(f"An account named {name!r} exists already.")
        user = User(username=name, is_staff=False)
        user.set_unusable_password()
        user.save()
        user.user_permissions.add(
            Permission.objects.get(
                content_type__app_label=VIEW_FEED_APP_LABEL, codename=VIEW_FEED_CODENAME
            )
        )
        return user, token_issue(user=user).token
