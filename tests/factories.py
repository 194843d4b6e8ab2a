from __future__ import annotations

import factory
from django.contrib.auth.models import Group, Permission
from factory.django import DjangoModelFactory

from accounts.models import User

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    # Hashed before the first save: a password set on a saved user revokes its tokens and
    # holds its token-cache entries until the commit (accounts.token_cache).
    password = factory.django.Password(DEFAULT_PASSWORD)


def staff_with(*permissions: str, groups: tuple[str, ...] = (), **fields: object) -> User:
    """A staff user holding exactly `permissions` ("app_label.codename") and `groups`."""
    user: User = UserFactory(is_staff=True, **fields)
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    user.groups.add(*Group.objects.filter(name__in=groups))
    return user
