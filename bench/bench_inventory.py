"""Inventory and cart benchmarks (not part of `make test`).

Each `bench_*` function sets up what it needs (products with SKU prefix `BENCH-`, carts
of its own), measures, and returns a list of `Result` rows; `run()` runs them all. They
expect Django to be set up against a migrated database and a reachable Redis, and they
leave ledger rows behind, so point them at a scratch database. Without the project runner:

    DEBUG=false .venv/bin/python manage.py shell -c \
        "from bench.bench_inventory import run; [print(r.as_row()) for r in run()]"

- Cart add / cart view over the full HTTP stack (Django test client: every middleware,
  token authentication, throttling, problem handling), against a baseline measured in the
  same run: a view returning constant JSON behind the same stack. Ratio = baseline time /
  cart time per request (1.0 = as fast as doing nothing; the goal is 0.7 or better).
- Raw Redis HINCRBY+EXPIRE and HGETALL: the floor under the cart.
- Reservations per second with N concurrent workers (threads, own connections) on K hot
  products: each reservation is stock_reserve + stock_release; zero oversell is checked
  afterwards and retries per reservation are reported.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.test import override_settings
from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from accounts.models import User


@dataclass
class Result:
    name: str
    per_op_ms: float
    ops_per_sec: float
    extra: dict[str, Any] = field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "per_op_ms": round(self.per_op_ms, 3),
            "ops_per_sec": round(self.ops_per_sec, 1),
            **self.extra,
        }


class BaselineView(APIView):
    """Does nothing, behind the default authentication and throttling classes."""

    def get(self, request: Request) -> Response:
        return Response({"ok": True})

    def post(self, request: Request) -> Response:
        return Response({"ok": True})


# This module doubles as the URLconf of the HTTP benchmarks: the project's URLs plus the
# baseline view.
urlpatterns = [
    path("api/v1/bench/baseline/", BaselineView.as_view()),
    path("", include("commerce_project.urls")),
]


def _timed(operation: Callable[[int], object], repeat: int, warmup: int = 20) -> list[float]:
    for index in range(warmup):
        operation(index)
    timings = []
    for index in range(repeat):
        started = time.perf_counter()
        operation(index)
        timings.append(time.perf_counter() - started)
    return timings


def _paired(
    baseline: Callable[[int], object], operation: Callable[[int], object], repeat: int
) -> tuple[list[float], list[float]]:
    """Times the baseline and the operation alternately, so that load from elsewhere on
    the machine slows both alike and the ratio of their medians stays meaningful."""
    for index in range(20):
        baseline(index)
        operation(index)
    base_timings, timings = [], []
    for index in range(repeat):
        started = time.perf_counter()
        baseline(index)
        middle = time.perf_counter()
        operation(index)
        ended = time.perf_counter()
        base_timings.append(middle - started)
        timings.append(ended - middle)
    return base_timings, timings


def _result(name: str, timings: list[float], **extra: Any) -> Result:
    per_op = statistics.median(timings)
    return Result(name, per_op * 1000, 1 / per_op if per_op else 0.0, extra)


def _bench_products(count: int, stock: int) -> list[Any]:
    from inventory.models import Product
    from inventory.services import product_create, stock_restock

    products = []
    for index in range(count):
        sku = f"BENCH-{index:03d}"
        product = Product.objects.filter(sku=sku).select_related("stock").first()
        if product is None:
            product = product_create(
                sku=sku, name=f"Bench {index}", price=Decimal("9.99"), initial_stock=stock
            )
        elif product.stock.on_hand - product.stock.reserved < stock:
            stock_restock(product_id=product.id, quantity=stock, actor="bench", reason="bench")
        products.append(product)
    return products


def _client() -> APIClient:
    from rest_framework.authtoken.models import Token

    user, _ = User.objects.get_or_create(username="bench-customer")
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def bench_cart_http(*, repeat: int = 500) -> list[Result]:
    """Cart add (POST items, answered with the whole cart) and cart view (GET of a cart
    with 10 lines), each timed alternately with the baseline's POST / GET."""
    products = _bench_products(10, stock=1_000_000)
    rates: dict[str, str | None] = {"anon": "1000000/minute", "user": "1000000/minute"}
    with override_settings(ROOT_URLCONF=__name__):
        from rest_framework.throttling import SimpleRateThrottle

        original_rates = SimpleRateThrottle.THROTTLE_RATES
        SimpleRateThrottle.THROTTLE_RATES = rates
        try:
            client = _client()
            sid = client.post("/api/v1/carts/").json()["session_id"]

            def add(index: int) -> None:
                product = products[index % len(products)]
                response = client.post(
                    f"/api/v1/carts/{sid}/items/",
                    {"product_id": str(product.id), "quantity": 1},
                    format="json",
                )
                if response.status_code != 200:
                    # keep lines under the 99 bound without leaving the measured path
                    client.delete(f"/api/v1/carts/{sid}/items/{product.id}/")

            baseline_post, cart_add = _paired(
                lambda _: client.post("/api/v1/bench/baseline/", {"x": 1}, format="json"),
                add,
                repeat,
            )
            baseline_get, cart_view = _paired(
                lambda _: client.get("/api/v1/bench/baseline/"),
                lambda _: client.get(f"/api/v1/carts/{sid}/"),
                repeat,
            )
        finally:
            SimpleRateThrottle.THROTTLE_RATES = original_rates
    base_get, base_post = statistics.median(baseline_get), statistics.median(baseline_post)
    add_result = _result(
        "cart add (HTTP)",
        cart_add,
        baseline_ms=round(base_post * 1000, 3),
        ratio=round(base_post / statistics.median(cart_add), 2),
    )
    view_result = _result(
        "cart view, 10 lines (HTTP)",
        cart_view,
        baseline_ms=round(base_get * 1000, 3),
        ratio=round(base_get / statistics.median(cart_view), 2),
    )
    return [add_result, view_result]


def bench_redis_floor(*, repeat: int = 2000) -> list[Result]:
    """What Redis alone costs for the cart's two hottest operations."""
    from inventory.stock_cache import redis_client

    client = redis_client()
    key = f"bench:cart:{uuid.uuid4().hex}"
    fields = [str(uuid.uuid4()) for _ in range(10)]

    def hset(index: int) -> None:
        pipe = client.pipeline(transaction=False)
        pipe.hincrby(key, fields[index % 10], 1)
        pipe.expire(key, 60)
        pipe.execute()

    writes = _timed(hset, repeat)
    reads = _timed(lambda _: client.hgetall(key), repeat)
    client.delete(key)
    return [_result("redis HINCRBY+EXPIRE (floor)", writes), _result("redis HGETALL", reads)]


def bench_reservations(
    *, workers: int = 4, hot_products: int = 10, seconds: float = 5.0, units: int = 1000
) -> list[Result]:
    """`workers` threads reserve 1 unit of a random hot product and release it again, as
    fast as they can, for `seconds`; then checks that nothing was oversold."""
    import random

    from inventory import services
    from inventory.models import StockItem

    products = _bench_products(hot_products, stock=units)
    ids = [p.id for p in products]
    before = {item.pk: item.reserved for item in StockItem.objects.filter(pk__in=ids)}
    counts = [0] * workers
    stop = threading.Event()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        rng = random.Random(index)
        try:
            while not stop.is_set():
                order_id = uuid.uuid4()
                services.stock_reserve(order_id=order_id, lines=[(rng.choice(ids), 1)])
                services.stock_release(order_id=order_id)
                counts[index] += 1
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    lost_before = services.stock_reserve_lost_races()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    lost = services.stock_reserve_lost_races() - lost_before
    if errors:
        raise errors[0]
    items = list(StockItem.objects.filter(pk__in=ids))
    oversold = sum(1 for item in items if item.reserved > item.on_hand or item.on_hand < 0)
    leaked = sum(item.reserved - before[item.pk] for item in items)
    total = sum(counts)
    return [
        Result(
            f"reserve+release, {workers} workers, {hot_products} hot products",
            elapsed / total * 1000 if total else 0.0,
            total / elapsed,
            {
                "reservations": total,
                "retries_per_reservation": round(lost / total, 3) if total else 0,
                "oversold_products": oversold,
                "units_left_reserved": leaked,
            },
        )
    ]


def run(*, quick: bool = False) -> list[Result]:
    scale = 5 if quick else 1
    return [
        *bench_cart_http(repeat=500 // scale),
        *bench_redis_floor(repeat=2000 // scale),
        *bench_reservations(seconds=5.0 / scale),
    ]
