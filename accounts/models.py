from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models, transaction
from django.db.models.functions import Lower

# The fields that decide whether a token still signs its user in, and as whom.
AUTH_FIELDS = ("password", "is_active", "is_staff", "is_superuser", "username")


class User(AbstractUser):
    """Customers and staff alike; `is_staff` tells them apart. UUID keys are not guessable
    and are what every other table stores as `customer_id`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address", blank=True)
    _auth_snapshot: tuple[Any, ...] | None = None

    class Meta:
        db_table = "users"
        verbose_name = "user"
        verbose_name_plural = "users"
        # The back office finds a customer's orders by e-mail, ignoring case.
        indexes = [models.Index(Lower("email"), name="users_email_lower")]
        constraints = [
            # Registration checks case-insensitively; this makes a race of "Bob" and "bob"
            # end in one user too (the loser's IntegrityError is answered 400).
            models.UniqueConstraint(
                Lower("username"),
                name="users_username_lower_unique",
                violation_error_message="A user with that username already exists.",
            ),
        ]

    @classmethod
    def from_db(cls, db: str | None, field_names: Collection[str], values: Collection[Any]) -> User:
        user = super().from_db(db, field_names, values)
        user._auth_snapshot = user._auth_state()
        return user

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        # What the row holds now: a change made after this is measured against it.
        self._auth_snapshot = self._auth_state()

    def _auth_state(self) -> tuple[Any, ...]:
        # __dict__, not getattr: a deferred field must not cost a query here.
        return tuple(self.__dict__.get(name) for name in AUTH_FIELDS)

    def _changes_auth(self, update_fields: Iterable[str] | None) -> bool:
        if self._state.adding:
            return False  # nobody holds a token of a user not yet saved
        if update_fields is not None:
            return bool(set(update_fields) & set(AUTH_FIELDS))
        return self._auth_snapshot != self._auth_state()

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A change to what signs the user in goes through the token cache's protocol
        (accounts.token_cache): cached tokens die before the row changes. A new password
        revokes every token."""
        from accounts import token_cache  # the cache reaches Redis through inventory

        guarded = self._changes_auth(kwargs.get("update_fields"))
        # set_password leaves the new password here until the save (AbstractBaseUser).
        password_changed = guarded and getattr(self, "_password", None) is not None
        if guarded:
            token_cache.user_changing(user_id=self.pk)
        super().save(*args, **kwargs)
        self._auth_snapshot = self._auth_state()
        if password_changed:
            # A token never outlives the password it was issued under, whoever changed it
            # (the API, the admin's password form, `changepassword`).
            from knox.models import AuthToken

            AuthToken.objects.filter(user_id=self.pk).delete()
        if guarded:
            user_id = self.pk
            transaction.on_commit(
                lambda: token_cache.user_changed(user_id=user_id), using=kwargs.get("using")
            )

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        from accounts import token_cache

        user_id = self.pk
        token_cache.user_changing(user_id=user_id)
        deleted = super().delete(*args, **kwargs)
        transaction.on_commit(lambda: token_cache.user_changed(user_id=user_id))
        return deleted
