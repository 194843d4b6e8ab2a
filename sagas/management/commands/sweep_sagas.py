from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from sagas.services import saga_sweep


class Command(BaseCommand):
    help = (
        "Publish a run of every saga that is due or whose worker lost its lease "
        "(what the beat task sweep_sagas does every SAGA_SWEEP_INTERVAL_SECONDS)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--loop",
            action="store_true",
            help="Keep sweeping every SAGA_SWEEP_INTERVAL_SECONDS until interrupted.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            published = saga_sweep()
            self.stdout.write(f"published {published} saga run(s)")
            if not options["loop"]:
                return
            time.sleep(settings.SAGA_SWEEP_INTERVAL.total_seconds())
