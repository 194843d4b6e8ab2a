"""Order API benchmarks over HTTP (bench.http), each against the constant JSON view of the
same server in the same run:

- create + confirm an order (two POSTs), against two POSTs of the baseline;
- GET order detail (goal: 0.6x of the baseline or better);
- GET order list, staff, first page newest first, over BENCH_ORDERS background orders;
- and the bare DRF view, to show what the full stack itself costs.

The background orders are written once into `order_views` (the read model the list and
the detail read) through the projection's own row function and guarded upsert, without
events, so their history is not available; orders created by the benchmark are real.
"""

from __future__ import annotations

import os
import random
from datetime import timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from django.db import connection, transaction
from django.utils import timezone

from bench.fixtures import ADDRESS, stocked_products, user_tokens
from bench.http import (
    BARE,
    BASELINE,
    CONNECTIONS,
    Caller,
    Client,
    bare_get,
    compare,
    constant_get,
    constant_post,
)
from bench.measure import Result, compared
from eventstore.projections import upsert_guarded
from orders.domain import CatalogueItem, Order, ShippingAddress
from orders.models import OrderView
from orders.projections import order_view_row

BACKGROUND_ORDERS = int(os.environ.get("BENCH_ORDERS", "100000"))


def _customers() -> list[Caller]:
    return [Caller(token) for token in user_tokens("bench-customer", CONNECTIONS)]


def _product_id() -> str:
    return str(stocked_products(1, available=1_000_000)[0].id)


def bench_bare_view() -> list[Result]:
    ours, theirs = compare(bare_get, constant_get, _customers())
    return [compared(f"baseline check: {BARE}", ours, theirs, unit="req/s", baseline=BASELINE)]


def bench_create_and_confirm() -> list[Result]:
    product_id = _product_id()

    def create_confirm(client: Client, n: int) -> None:
        body = {"items": [{"product_id": product_id, "quantity": 1}], "shipping_address": ADDRESS}
        order = client.json("POST", "/api/v1/orders/", body, expect=201)
        client.call("POST", f"/api/v1/orders/{order['id']}/confirm/", {"payment_token": "tok_ok"})

    def two_constant_posts(client: Client, n: int) -> None:
        constant_post(client, n)
        constant_post(client, n)

    ours, theirs = compare(create_confirm, two_constant_posts, _customers())
    return [
        compared(
            "orders: create + confirm (2 POSTs)",
            ours,
            theirs,
            unit="orders/s",
            baseline=f"{BASELINE}, 2 POSTs",
            baseline_unit="pairs/s",
        )
    ]


def bench_order_detail() -> list[Result]:
    product_id = _product_id()
    callers = []
    for caller in _customers():
        with Client(caller) as client:
            order = client.json(
                "POST",
                "/api/v1/orders/",
                {"items": [{"product_id": product_id, "quantity": 1}]},
                expect=201,
            )
        callers.append(Caller(caller.token, {"path": f"/api/v1/orders/{order['id']}/"}))

    def detail(client: Client, n: int) -> None:
        client.call("GET", client.context["path"])

    ours, theirs = compare(detail, constant_get, callers)
    return [
        compared(
            "orders: GET detail", ours, theirs, unit="req/s", baseline=BASELINE, goal_ratio=0.6
        )
    ]


def bench_order_list() -> list[Result]:
    _seed_background_orders(BACKGROUND_ORDERS)
    total = OrderView.objects.count()
    staff = [Caller(token) for token in user_tokens("bench-staff", CONNECTIONS, staff=True)]
    with Client(staff[0]) as client:
        page = client.json("GET", "/api/v1/orders/")
    assert page["count"] == total, (page["count"], total)

    def listing(client: Client, n: int) -> None:
        client.call("GET", "/api/v1/orders/")

    ours, theirs = compare(listing, constant_get, staff)
    return [
        compared(
            f"orders: GET list, staff, first page of {total:,} orders",
            ours,
            theirs,
            unit="req/s",
            baseline=BASELINE,
        )
    ]


def _seed_background_orders(total: int) -> None:
    """Background orders, folded by the domain and written by the projection's guarded
    upsert (no events: see the module docstring), until order_views holds `total`."""
    missing = total - OrderView.objects.count()
    if missing <= 0:
        return
    rng = random.Random(7)
    customers: list[UUID] = [uuid4() for _ in range(1000)]
    items = [
        CatalogueItem(uuid4(), f"BG-{n:03d}", f"Background {n}", Decimal(f"{n}.50"), "EUR")
        for n in range(1, 21)
    ]
    address = ShippingAddress(**ADDRESS)
    now = timezone.now()
    rows = []
    for n in range(missing):
        at = now - timedelta(minutes=rng.randrange(525_600))
        order = Order.blank(uuid4())
        picks = rng.sample(items, rng.randint(1, 4))
        order.create(
            customer_id=rng.choice(customers),
            currency="EUR",
            at=at,
            items=[(item, rng.randint(1, 5)) for item in picks],
        )
        order.set_shipping_address(address=address, at=at)
        if rng.random() < 0.7:
            order.confirm(payment_token="tok_ok", at=at)
        rows.append(order_view_row(order))
        if len(rows) == 2000 or n == missing - 1:
            with transaction.atomic():
                upsert_guarded("order_views", rows, "order_id")
            rows = []
    # The steady state autovacuum would reach: statistics and a visibility map, so that
    # the page's count can use an index-only scan.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE order_views")


BENCHMARKS = [bench_bare_view, bench_create_and_confirm, bench_order_detail, bench_order_list]
