"""Cart and inventory benchmarks, each against a baseline measured in turns with it:

- the product list (first page of 20, anonymous), cart add (POST an item, answered with the
  whole priced cart) and cart view (GET a cart of 10 lines) over HTTP (bench.http), on each
  gunicorn worker kind, against the bare DRF view of the same server (goals of issue 13:
  0.4x, 0.4x and 0.5x);
- the cart's Redis work without HTTP (the service and the pricing selector) against its
  floor: raw Redis HSET+EXPIRE in one round trip, and HGETALL, of a 10-line hash;
- reservations: BENCH_RESERVATION_WORKERS threads (4), each with its own database
  connection, reserve one unit of a random one of 10 hot products and release it again,
  against the same workers running the bare guarded UPDATEs (no ledger, no reservation
  rows). Afterwards no product may be oversold and no unit left reserved.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from uuid import UUID

from django.db import connection
from django.test import override_settings

from bench.fixtures import raw_connection, stocked_products, user_tokens
from bench.http import CONNECTIONS, Caller, Client, bare_get, compared_on_each_kind
from bench.measure import Result, compared, in_turns, repeated
from carts.selectors import cart_view
from carts.services import cart_create, cart_get, cart_item_add
from inventory.models import StockItem
from inventory.services import stock_release, stock_reserve
from inventory.stock_cache import redis_client

CART_LINES = 10
# A full first page of the catalogue (the API's default page size).
CATALOGUE_PAGE = 20
HOT_PRODUCTS = 10
RESERVATION_WORKERS = int(os.environ.get("BENCH_RESERVATION_WORKERS", "4"))
RESERVATION_SECONDS = float(os.environ.get("BENCH_RESERVATION_SECONDS", "1"))
IN_PROCESS_OPERATIONS = 500


def _shoppers(product_ids: list[str]) -> list[Caller]:
    """One caller per load connection, each with a cart of CART_LINES lines."""
    callers = []
    for token in user_tokens("bench-shopper", CONNECTIONS):
        with Client(Caller(token)) as client:
            cart = client.json("POST", "/api/v1/carts/", expect=201)
            path = f"/api/v1/carts/{cart['session_id']}/"
            for product_id in product_ids:
                client.call("POST", f"{path}items/", {"product_id": product_id, "quantity": 1})
        callers.append(Caller(token, {"cart": path}))
    return callers


def bench_http_carts() -> list[Result]:
    product_ids = [str(p.id) for p in stocked_products(CART_LINES, available=1_000_000)]
    shoppers = _shoppers(product_ids)

    def add(client: Client, n: int) -> None:
        body = {"product_id": product_ids[n % CART_LINES], "quantity": 1}
        client.call("POST", f"{client.context['cart']}items/", body)

    def view(client: Client, n: int) -> None:
        client.call("GET", client.context["cart"])

    return [
        *compared_on_each_kind(
            f"carts: add item, answered with the cart ({CART_LINES} lines)",
            add,
            bare_get,
            shoppers,
            goal_ratio=0.4,
        ),
        *compared_on_each_kind(
            f"carts: GET cart ({CART_LINES} lines)", view, bare_get, shoppers, goal_ratio=0.5
        ),
    ]


def bench_http_product_list() -> list[Result]:
    stocked_products(CATALOGUE_PAGE, available=1000)
    anonymous = [Caller(None) for _ in range(CONNECTIONS)]

    def first_page(client: Client, n: int) -> None:
        client.call("GET", "/api/v1/products/")

    with Client(anonymous[0]) as client:
        page = client.json("GET", "/api/v1/products/")
    assert len(page["results"]) == CATALOGUE_PAGE, page
    return compared_on_each_kind(
        "inventory: GET product list, first page, anonymous",
        first_page,
        bare_get,
        anonymous,
        goal_ratio=0.4,
    )


def bench_cart_redis_floor() -> list[Result]:
    products = [p.id for p in stocked_products(CART_LINES, available=1_000_000)]
    redis = redis_client()
    floor_key = f"bench:cart:{uuid.uuid4().hex}"
    fields = [str(p) for p in products]
    redis.hset(floor_key, mapping=dict.fromkeys(fields, 1))

    def raw_write(n: int) -> None:
        pipe = redis.pipeline(transaction=False)
        pipe.hset(floor_key, fields[n % CART_LINES], n)
        pipe.expire(floor_key, 3600)
        pipe.execute()

    # The bound is checked on every add either way; the benchmark adds for longer than 99.
    with override_settings(CART_MAX_LINE_QUANTITY=1_000_000_000):
        session_id = cart_create(user_id=None).session_id
        for product_id in products:
            cart_item_add(session_id=session_id, user_id=None, product_id=product_id, quantity=1)

        def add(n: int) -> None:
            cart_view(
                cart=cart_item_add(
                    session_id=session_id,
                    user_id=None,
                    product_id=products[n % CART_LINES],
                    quantity=1,
                )
            )

        def view(n: int) -> None:
            cart_view(cart=cart_get(session_id=session_id, user_id=None))

        add_ours, add_floor, view_ours, view_floor = in_turns(
            repeated(add, IN_PROCESS_OPERATIONS),
            repeated(raw_write, IN_PROCESS_OPERATIONS),
            repeated(view, IN_PROCESS_OPERATIONS),
            repeated(lambda _: redis.hgetall(floor_key), IN_PROCESS_OPERATIONS),
        )
    redis.delete(floor_key)
    return [
        compared(
            "carts: add item, service + pricing, no HTTP",
            add_ours,
            add_floor,
            unit="µs",
            per_op=True,
            baseline="raw Redis HSET+EXPIRE, one round trip",
        ),
        compared(
            f"carts: read cart ({CART_LINES} lines), service + pricing, no HTTP",
            view_ours,
            view_floor,
            unit="µs",
            per_op=True,
            baseline="raw Redis HGETALL",
        ),
    ]


_GUARDED_UPDATE = (
    "UPDATE stock_items SET reserved = reserved + %s, version = version + 1 "
    "WHERE product_id = %s AND on_hand >= reserved + %s AND reserved + %s >= 0"
)


def _race(work: Callable[[int, random.Random], None]) -> float:
    """Operations per second of RESERVATION_WORKERS threads running `work(index, rng)`
    for RESERVATION_SECONDS; a worker's first exception is raised afterwards."""
    counts = [0] * RESERVATION_WORKERS
    errors: list[BaseException] = []
    stop = threading.Event()

    def worker(index: int) -> None:
        rng = random.Random(index)
        try:
            while not stop.is_set():
                work(index, rng)
                counts[index] += 1
        except BaseException as exc:  # raised in the caller
            errors.append(exc)
        finally:
            connection.close()  # the thread's own Django connection, if it opened one

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(RESERVATION_WORKERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(RESERVATION_SECONDS)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return sum(counts) / elapsed


def bench_reservations() -> list[Result]:
    ids: list[UUID] = [p.id for p in stocked_products(HOT_PRODUCTS, available=1000)]
    reserved_before = dict(StockItem.objects.filter(pk__in=ids).values_list("pk", "reserved"))
    reservations = [0] * RESERVATION_WORKERS

    def ours(index: int, rng: random.Random) -> None:
        order_id = uuid.uuid4()
        stock_reserve(order_id=order_id, lines=[(rng.choice(ids), 1)])
        stock_release(order_id=order_id)
        reservations[index] += 1

    raw_connections = [raw_connection() for _ in range(RESERVATION_WORKERS)]

    def raw(index: int, rng: random.Random) -> None:
        product_id = rng.choice(ids)
        raw_connections[index].execute(_GUARDED_UPDATE, [1, product_id, 1, 1])
        raw_connections[index].execute(_GUARDED_UPDATE, [-1, product_id, -1, -1])

    try:
        our_rates, raw_rates = in_turns(lambda: _race(ours), lambda: _race(raw))
    finally:
        for conn in raw_connections:
            conn.close()
    items = list(StockItem.objects.filter(pk__in=ids))
    oversold = [item.pk for item in items if item.reserved > item.on_hand or item.on_hand < 0]
    left = sum(item.reserved - reserved_before[item.pk] for item in items)
    if oversold or left:
        raise RuntimeError(f"oversold products {oversold}, {left} units left reserved")
    return [
        compared(
            f"inventory: reserve + release, {RESERVATION_WORKERS} workers, {HOT_PRODUCTS} hot "
            f"products (0 oversold)",
            our_rates,
            raw_rates,
            unit="reservations/s",
            baseline="the same workers running the bare guarded UPDATEs",
        )
    ]


BENCHMARKS = [
    bench_http_product_list,
    bench_http_carts,
    bench_cart_redis_floor,
    bench_reservations,
]
