from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """Customers and staff alike; `is_staff` tells them apart. UUID keys are not guessable
    and are what every other table stores as `customer_id`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField("email address", blank=True)

    class Meta:
        db_table = "users"
        verbose_name = "user"
        verbose_name_plural = "users"
