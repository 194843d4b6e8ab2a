from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower


class User(AbstractUser):
    """Customers and staff alike; `is_staff` tells them apart. UUID keys are not guessable
    and are what every other table stores as `customer_id`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address", blank=True)

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
