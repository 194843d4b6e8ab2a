from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection, transaction
from knox.models import AuthToken

from accounts.legacy_tokens import legacy_tokens_hash


class Command(BaseCommand):
    help = (
        "Store plain-text DRF tokens (issued by pods of a version before knox during a "
        "rolling deployment) as knox digests. Run once the last old pod is gone; harmless "
        "to repeat."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            converted = legacy_tokens_hash(connection, AuthToken)
        self.stdout.write(f"{converted} plain-text token(s) stored as digests")
