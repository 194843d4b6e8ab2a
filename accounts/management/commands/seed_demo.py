"""Demo data for `make run`, safe to run any number of times."""

from __future__ import annotations

import importlib
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from accounts.services import token_issue

DEMO_USERS = (
    # username, password, is_staff
    ("staff", "staff-demo-pass", True),
    ("customer", "customer-demo-pass", False),
)


class Command(BaseCommand):
    help = "Create the demo staff user and customer (idempotent) and print their credentials."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            for username, password, is_staff in DEMO_USERS:
                user, created = User.objects.get_or_create(
                    username=username,
                    defaults={
                        "email": f"{username}@example.com",
                        "is_staff": is_staff,
                        "is_superuser": is_staff,
                    },
                )
                if created:
                    user.set_password(password)
                    user.save(update_fields=["password"])
                # A new token on each run: only its digest is stored, so an old one cannot
                # be shown again (each stays valid until it expires).
                token = token_issue(user=user).token
                role = "staff (admin)" if is_staff else "customer"
                self.stdout.write(
                    f"{role:14} username={username} password={password} token={token}"
                )
            self._seed_apps()

    def _seed_apps(self) -> None:
        """Each app may offer `<app>.demo.seed(stdout)`; it must be idempotent too."""
        for app in apps.get_app_configs():
            try:
                module = importlib.import_module(f"{app.name}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{app.name}.demo":
                    raise
                continue
            module.seed(self.stdout)
