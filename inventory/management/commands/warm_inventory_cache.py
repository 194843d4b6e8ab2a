from __future__ import annotations

from itertools import islice
from typing import Any

from django.core.management.base import BaseCommand

from inventory.selectors import stock_levels_all
from inventory.stock_cache import stock_cache_write

_BATCH = 1000


class Command(BaseCommand):
    help = "Write every product's available quantity to the Redis stock cache."

    def handle(self, *args: Any, **options: Any) -> None:
        written = 0
        levels = iter(stock_levels_all())
        while batch := list(islice(levels, _BATCH)):
            stock_cache_write(batch)
            written += len(batch)
        self.stdout.write(f"Stock cache warmed for {written} products.")
