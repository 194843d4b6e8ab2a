"""Tables of the orders app: the OrderView read model. The Order aggregate (domain.py) is an
unmanaged model without a table; importing it here registers it with the app."""

from __future__ import annotations

from .domain import Order

__all__ = ["Order"]
