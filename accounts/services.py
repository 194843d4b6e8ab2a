"""Account use cases. Registration only ever creates customers; staff are made by staff.

Sign-in tokens are django-rest-knox AuthTokens: one per device or client (each sign-in
issues a new one), stored as a SHA-512 digest, living settings.AUTH_TOKEN_TTL. Every
revocation goes through the token cache's protocol (accounts.token_cache) so that it takes
effect at once in every process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import password_validation
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken

from . import token_cache
from .models import User


@dataclass(frozen=True)
class IssuedToken:
    """A token as its holder sees it, once: only its digest is stored."""

    token: str
    expiry: datetime | None


def token_issue(*, user: User) -> IssuedToken:
    instance, token = AuthToken.objects.create(user=user)
    return IssuedToken(token=token, expiry=instance.expiry)


def user_register(*, username: str, email: str, password: str) -> tuple[User, IssuedToken]:
    with transaction.atomic():
        user = User(username=username, email=email, is_staff=False, is_superuser=False)
        password_validation.validate_password(password, user)
        user.set_password(password)
        user.save()
        issued = token_issue(user=user)
    return user, issued


def _revoking(user_id: object) -> None:
    token_cache.user_changing(user_id=user_id)
    transaction.on_commit(lambda: token_cache.user_changed(user_id=user_id))


def token_revoke(*, user_id: object, digest: str) -> None:
    """Logs one device out: the token with `digest` stops working; the user's others do not."""
    with transaction.atomic():
        _revoking(user_id)
        AuthToken.objects.filter(user_id=user_id, digest=digest).delete()


def tokens_revoke_all(*, user_id: object) -> int:
    """Logs the user out everywhere. Returns how many tokens were revoked."""
    with transaction.atomic():
        _revoking(user_id)
        deleted, _ = AuthToken.objects.filter(user_id=user_id).delete()
    return deleted


def tokens_purge_expired() -> int:
    """Deletes expired tokens (they already answer 401: an expired token is refused on every
    path, cached or not, so no cache protocol is needed). Returns how many."""
    deleted, _ = AuthToken.objects.filter(expiry__lte=timezone.now()).delete()
    return deleted


def user_password_change(*, user: User, new_password: str) -> IssuedToken:
    """Sets the password and revokes every token the user had; returns a fresh one for the
    device that asked."""
    password_validation.validate_password(new_password, user)
    with transaction.atomic():
        _revoking(user.pk)
        user.set_password(new_password)
        user.save(update_fields=["password"])
        AuthToken.objects.filter(user_id=user.pk).delete()
        return token_issue(user=user)
