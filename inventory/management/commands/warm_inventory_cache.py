from __future__ import annotations

from itertools import islice
from typing import Any

from django.core.management.base import BaseCommand

from inventory.selectors import catalogue_all
from inventory.stock_cache import product_cache_write, stock_cache_write

_BATCH = 1000


class Command(BaseCommand):
    help = "Write every product and its available quantity to the Redis catalogue cache."

    def handle(self, *args: Any, **options: Any) -> None:
        written = 0
        rows = iter(catalogue_all())
        while batch := list(islice(rows, _BATCH)):
            product_cache_write(entry for entry, _ in batch)
            stock_cache_write(level for _, level in batch)
            written += len(batch)
        self.stdout.write(f"Stock cache warmed for {written} products.")
