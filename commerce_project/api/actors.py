"""Who is acting, as the HTTP edge tells it to a command: one `actor_of(request)` for every
view that dispatches (orders, carts' checkout). Commands record it in event metadata as
`customer:<id>`, `staff:<id>` or `saga` (`orders.domain.Actor`)."""

from __future__ import annotations

from rest_framework.request import Request

from orders.commands import actor_for_user
from orders.domain import Actor


def actor_of(request: Request) -> Actor:
    return actor_for_user(request.user)
