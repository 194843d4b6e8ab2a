"""Account use cases. Registration only ever creates customers; staff are made by staff."""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.db import transaction
from rest_framework.authtoken.models import Token

from .models import User


def user_register(*, username: str, email: str, password: str) -> tuple[User, Token]:
    with transaction.atomic():
        user = User(username=username, email=email, is_staff=False, is_superuser=False)
        password_validation.validate_password(password, user)
        user.set_password(password)
        user.save()
        token = Token.objects.create(user=user)
    return user, token


def token_issue(*, user: User) -> Token:
    token, _ = Token.objects.get_or_create(user=user)
    return token


def token_revoke(*, user: User) -> None:
    Token.objects.filter(user=user).delete()


def user_password_change(*, user: User, new_password: str) -> Token:
    """Sets the password and revokes every token the user had; returns a fresh one."""
    password_validation.validate_password(new_password, user)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        Token.objects.filter(user=user).delete()
        return Token.objects.create(user=user)
