"""Who is acting, as the HTTP edge tells it to the code it calls.

`actor_of(request)` for every view that dispatches an order command (orders, carts'
checkout): commands record it in event metadata as `customer:<id>`, `staff:<id>` or `saga`
(`orders.domain.Actor`). `actor_name(request)` for the ledgers that name a person (stock
movements, staff actions on sagas), which record the username as the admin does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.request import Request

if TYPE_CHECKING:
    from orders.domain import Actor


def actor_of(request: Request) -> Actor:
    # Imported here: inventory's and sagas' edges use this module and must not load orders.
    from orders.commands import actor_for_user

    return actor_for_user(request.user)


def actor_name(request: Request) -> str:
    return str(request.user.get_username())
