"""Actions on the order page that belong to other apps: the extension point through which
they add a button without `orders` importing them (the sagas app registers "resend the
confirmation e-mail" from its AppConfig.ready(), as it registers its reservation guard with
inventory). Each action names the permission it needs; the page shows it only to holders,
and the view checks again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .models import OrderView


@dataclass(frozen=True)
class OrderPageAction:
    name: str  # the URL segment: /admin/orders/orderview/<id>/action/<name>/
    label: str
    permission: str
    # Whether the order is in a state where the action makes sense.
    applies: Callable[[OrderView], bool]
    # Run it for `user`; returns the message for staff, raises ApplicationError when it fails.
    run: Callable[[OrderView, Any], str]


_actions: dict[str, OrderPageAction] = {}


def order_page_action_register(action: OrderPageAction) -> None:
    """Register (or replace, by name) an action on the order page."""
    _actions[action.name] = action


def order_page_action_get(name: str) -> OrderPageAction | None:
    return _actions.get(name)


def order_page_actions_for(view: OrderView, user: Any) -> list[OrderPageAction]:
    """The actions `user` may run on this order now, in registration order."""
    return [a for a in _actions.values() if user.has_perm(a.permission) and a.applies(view)]
