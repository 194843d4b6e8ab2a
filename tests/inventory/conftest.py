from __future__ import annotations

import socket
from collections.abc import Callable
from uuid import UUID

import pytest
from django.db.models import Sum

from inventory.models import StockItem, StockMovement


@pytest.fixture
def closed_redis_url() -> str:
    """A Redis URL on a port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def stock_of(product_id: UUID) -> tuple[int, int]:
    item = StockItem.objects.get(pk=product_id)
    return item.on_hand, item.reserved


def ledger_of(product_id: UUID) -> tuple[int, int]:
    sums = StockMovement.objects.filter(product_id=product_id).aggregate(
        on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta")
    )
    return int(sums["on_hand"] or 0), int(sums["reserved"] or 0)


@pytest.fixture
def assert_ledger_matches() -> Callable[[UUID], None]:
    def check(product_id: UUID) -> None:
        assert ledger_of(product_id) == stock_of(product_id)

    return check
