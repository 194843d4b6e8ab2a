from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inventory.selectors import stock_drift


class Command(BaseCommand):
    help = (
        "Recompute on_hand and reserved from the stock movement ledger (and reserved from the "
        "active reservations), report every product that differs, and exit 1 on drift."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        drifts = stock_drift()
        for drift in drifts:
            self.stderr.write(drift.describe())
        if drifts:
            raise CommandError(f"{len(drifts)} products drifted from their stock ledger.")
        self.stdout.write("Stock matches the ledger.")
