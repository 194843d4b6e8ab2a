"""Order API benchmarks over HTTP (bench.http), on each gunicorn worker kind, each against a
baseline served by the same server in the same run (issue 13's goals):

- the constant JSON view behind the full stack, against the bare DRF view (>= 0.7x): what
  the stack itself costs;
- create + confirm an order (two POSTs), against two POSTs of the constant view (>= 0.5x);
- GET order detail (a customer, token, ETag), against the bare DRF view (>= 0.5x);
- GET the staff order list, first page, filtered by status, over BENCH_ORDERS (100,000) and
  then BENCH_ORDERS_LARGE (1,000,000) orders, against the constant view (>= 0.4x); and how
  its cost changes between the two sizes (flat: the 1M ratio over the 100k ratio, >= 0.8x).

The background orders are written straight into `order_views` (the read model the list
reads) by one `INSERT ... SELECT ... FROM generate_series` each size, copying one real
order's row with a fresh id, customer (one of 1,000), status, total and creation time; they
have no events. Orders created by the benchmark are real.
"""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

from django.db import connection
from django.utils import timezone
from psycopg.types.json import Jsonb

from bench.fixtures import ADDRESS, stocked_products, user_tokens
from bench.http import (
    BASELINE,
    CONNECTIONS,
    Caller,
    Client,
    bare_get,
    compared_on_each_kind,
    constant_get,
    constant_post,
)
from bench.measure import Goal, Result, Side, measured
from orders.domain import CatalogueItem, Order, ShippingAddress
from orders.models import OrderView
from orders.projections import order_view_row

BACKGROUND_ORDERS = int(os.environ.get("BENCH_ORDERS", "100000"))
BACKGROUND_ORDERS_LARGE = int(os.environ.get("BENCH_ORDERS_LARGE", "1000000"))
LIST_STATUS = "CONFIRMED"
FLAT_GOAL = 0.8


def _customers() -> list[Caller]:
    return [Caller(token) for token in user_tokens("bench-customer", CONNECTIONS)]


def _product_id() -> str:
    return str(stocked_products(1, available=1_000_000)[0].id)


def bench_http_constant_view() -> list[Result]:
    return compared_on_each_kind(
        "api: constant JSON view behind the full stack",
        constant_get,
        bare_get,
        _customers(),
        goal_ratio=0.7,
    )


def bench_http_create_and_confirm() -> list[Result]:
    product_id = _product_id()

    def create_confirm(client: Client, n: int) -> None:
        body = {"items": [{"product_id": product_id, "quantity": 1}], "shipping_address": ADDRESS}
        order = client.json("POST", "/api/v1/orders/", body, expect=201)
        client.call("POST", f"/api/v1/orders/{order['id']}/confirm/", {"payment_token": "tok_ok"})

    def two_constant_posts(client: Client, n: int) -> None:
        constant_post(client, n)
        constant_post(client, n)

    return compared_on_each_kind(
        "orders: create + confirm (2 POSTs)",
        create_confirm,
        two_constant_posts,
        _customers(),
        unit="orders/s",
        baseline_name=f"{BASELINE}, 2 POSTs",
        baseline_unit="pairs/s",
        goal_ratio=0.5,
    )


def bench_http_order_detail() -> list[Result]:
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

    return compared_on_each_kind(
        "orders: GET detail (customer, token, ETag)", detail, bare_get, callers, goal_ratio=0.5
    )


def bench_http_order_list() -> list[Result]:
    staff = [Caller(token) for token in user_tokens("bench-staff", CONNECTIONS, staff=True)]
    path = f"/api/v1/orders/?status={LIST_STATUS}"

    def listing(client: Client, n: int) -> None:
        client.call("GET", path)

    rows: list[Result] = []
    by_size: dict[int, list[Result]] = {}
    for size in (BACKGROUND_ORDERS, BACKGROUND_ORDERS_LARGE):
        total = _seed_background_orders(size)
        with Client(staff[0]) as client:
            page = client.json("GET", path)
        if "count" in page or len(page["results"]) != 20 or not page["next"]:
            raise RuntimeError(f"not a full cursor page: {page}")
        by_size[size] = compared_on_each_kind(
            f"orders: GET list, staff, status filter, first page of {total:,} orders",
            listing,
            constant_get,
            staff,
            baseline_name=BASELINE,
            goal_ratio=0.4,
        )
        rows += by_size[size]
    small, large = by_size[BACKGROUND_ORDERS], by_size[BACKGROUND_ORDERS_LARGE]
    for at_small, at_large in zip(small, large, strict=True):
        kind = at_small.name.rsplit(" ", 1)[-1]
        flat = measured(
            f"orders: staff list at {BACKGROUND_ORDERS_LARGE:,} vs {BACKGROUND_ORDERS:,} "
            f"orders (its ratio to the constant view) {kind}",
            Side(at_large.ratio, "x"),
            f"the same at {BACKGROUND_ORDERS:,}",
            Side(at_small.ratio, "x"),
            goal=Goal(f">= {FLAT_GOAL:g}x (flat)", at_large.ratio / at_small.ratio >= FLAT_GOAL),
        )
        rows.append(flat)
    return rows


def _template_row() -> dict[str, Any]:
    """One confirmed order's read-model row, folded by the domain."""
    at = timezone.now()
    items = [
        CatalogueItem(uuid4(), f"BG-{n:03d}", f"Background {n}", Decimal(f"{n}.50"), "EUR")
        for n in range(1, 3)
    ]
    order = Order.blank(uuid4())
    order.create(customer_id=uuid4(), currency="EUR", at=at, items=[(i, 2) for i in items])
    order.set_shipping_address(address=ShippingAddress(**ADDRESS), at=at)
    order.confirm(payment_token="tok_ok", at=at - timedelta(seconds=1))
    return order_view_row(order)


# Per generated row: g is the generate_series number, at a creation time within a year.
_VARYING = {
    "order_id": "gen_random_uuid()",
    "customer_id": "md5('bench-background-' || mod(g, 1000))::uuid",
    "status": "(ARRAY['DRAFT', 'CONFIRMED', 'PAID', 'SHIPPED', 'CANCELLED'])[1 + mod(g, 5)]",
    "saga_id": "gen_random_uuid()",
    "total_amount": "mod(g, 400) + 0.50",
    "created_at": "at",
    "updated_at": "at",
}


def _seed_background_orders(total: int) -> int:
    """Fills order_views up to `total` rows (emptying it first when it holds more, as a
    previous run leaves it), and returns how many it holds."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM order_views")
        (present,) = cursor.fetchone() or (0,)
        if present > total:
            cursor.execute("TRUNCATE order_views")
            present = 0
        missing = total - present
        if missing > 0:
            template = _template_row()
            columns: list[str] = []
            values: list[str] = []
            params: list[Any] = []
            for field in OrderView._meta.concrete_fields:
                columns.append(field.column)
                if field.column in _VARYING:
                    values.append(_VARYING[field.column])
                else:
                    values.append("%s")
                    value = template[field.attname]
                    internal = field.get_internal_type()
                    params.append(Jsonb(value) if internal == "JSONField" else value)
            cursor.execute(
                f"INSERT INTO order_views ({', '.join(columns)}) "
                f"SELECT {', '.join(values)} FROM ("
                "  SELECT g, now() - random() * interval '365 days' AS at"
                "  FROM generate_series(1, %s) AS g"
                ") AS generated",
                [*params, missing],
            )
            # The steady state autovacuum would reach: statistics and a visibility map.
            cursor.execute("VACUUM ANALYZE order_views")
        return present + missing


BENCHMARKS = [
    bench_http_constant_view,
    bench_http_create_and_confirm,
    bench_http_order_detail,
    bench_http_order_list,
]
