"""`manage.py create_integration_client NAME`: an account for another service to read the
event feed with; prints its API token (shown this once)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.clients import IntegrationClientExists, integration_client_create


class Command(BaseCommand):
    help = (
        "Create an integration account that may read GET /api/v1/feed/ (permission "
        "eventstore.view_feed) and print its API token."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The account's username, e.g. fulfilment.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user, token = integration_client_create(name=options["name"])
        except IntegrationClientExists as exc:
            raise CommandError(exc.detail) from exc
        self.stderr.write(
            f"Created integration account {user.username}. Its token (shown once; send it "
            f'as "Authorization: Token <token>"):'
        )
        self.stdout.write(token)
