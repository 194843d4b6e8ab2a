"""Order API benchmarks over HTTP, against gunicorn, with their baselines measured in the
same run and the same gunicorn settings.

    BENCHMARKS: list of callables, each returning
        {"name", "value", "unit", "baseline", "ratio"}   (ratio = value / baseline)

- baseline: a view returning a constant JSON body behind the project's full middleware,
  token authentication and user throttling (the denominator of every ratio), and a bare
  DRF view (no authentication, no throttling) reported beside it;
- create + confirm an order (two requests; an order with one line and an address);
- GET order detail;
- GET order list (staff, first page, newest first) over 100,000 orders.

The server is `gunicorn 'bench.bench_orders:wsgi_application()'`: the project's WSGI app
with this module as URLconf (the project's URLs plus the two baseline views). Settings come
from the environment like any run (DATABASE_URL of a database you may fill; it is migrated
and seeded once: 100,000 background orders are written into `order_views` through the
projection's own row function and guarded upsert, without events, so their history is not
available; orders created by the benchmark itself are real).

Knobs: BENCH_SECONDS (per measurement, default 5), BENCH_WORKERS (gunicorn workers,
default 2), BENCH_CLIENTS (concurrent client threads, default 8), BENCH_ORDERS (background
orders, default 100000). Run alone with `python -m bench.bench_orders`.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "commerce_project.settings.base")

ROOT = Path(__file__).resolve().parent.parent
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
BACKGROUND_ORDERS = int(os.environ.get("BENCH_ORDERS", "100000"))

Result = dict[str, Any]

# --- the server side: baseline views and the URLconf gunicorn serves ----------------------


def _server_urlpatterns() -> list[Any]:
    from django.urls import include, path
    from rest_framework.permissions import AllowAny, IsAuthenticated
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class ConstantView(APIView):
        """The baseline: full middleware, token auth, user throttling, constant body."""

        permission_classes = [IsAuthenticated]

        def get(self, request: Request) -> Response:
            return Response({"status": "ok", "service": "commerce"})

    class BareView(APIView):
        authentication_classes: list[type] = []
        permission_classes = [AllowAny]
        throttle_classes: list[type] = []

        def get(self, request: Request) -> Response:
            return Response({"status": "ok", "service": "commerce"})

    return [
        path("bench/constant/", ConstantView.as_view()),
        path("bench/bare/", BareView.as_view()),
        path("", include("commerce_project.urls")),
    ]


def wsgi_application() -> Any:
    """gunicorn factory: the project's WSGI app with this module as URLconf."""
    from django.conf import settings

    settings.ROOT_URLCONF = __name__
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()
    global urlpatterns
    urlpatterns = _server_urlpatterns()
    return application


urlpatterns: list[Any] = []

# --- the client side ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self) -> None:
        self.port = _free_port()
        env = {
            **os.environ,
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            # Throttling runs on every request, with a limit the benchmark cannot reach.
            "THROTTLE_USER_RATE": "100000000/minute",
            "THROTTLE_ANON_RATE": "100000000/minute",
        }
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "bench.bench_orders:wsgi_application()",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(WORKERS),
                "--worker-class",
                "sync",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                status, _, _ = request(self.port, "GET", "/healthz")
                if status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def request(
    port: int, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Accept": "application/json"}
    payload = None
    if body is not None:
        payload = json.dumps(body)
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Token {token}"
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def measure(operation: Callable[[], None], seconds: float = SECONDS) -> float:
    """Operations per second over `seconds`, from CLIENTS threads."""
    counts = [0] * CLIENTS
    errors: list[BaseException] = []
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        try:
            while time.monotonic() < stop:
                operation()
                counts[index] += 1
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if errors:
        raise errors[0]
    return sum(counts) / elapsed


def expect(status: int, wanted: int, body: bytes) -> None:
    if status != wanted:
        raise RuntimeError(f"expected {wanted}, got {status}: {body[:300]!r}")


# --- fixtures: users, products, 100,000 orders --------------------------------------------


@cache
def setup() -> dict[str, Any]:
    django.setup()
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from accounts.models import User
    from inventory.models import Product

    call_command("migrate", verbosity=0)
    customer, _ = User.objects.get_or_create(username="bench-customer")
    staff, _ = User.objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True, "is_superuser": True}
    )
    product, _ = Product.objects.get_or_create(
        sku="BENCH-001",
        defaults={"name": "Bench widget", "price": Decimal("9.99"), "currency": "EUR"},
    )
    _seed_orders(BACKGROUND_ORDERS, customer.pk, product)
    server = Server()
    return {
        "server": server,
        "port": server.port,
        "customer_token": Token.objects.get_or_create(user=customer)[0].key,
        "staff_token": Token.objects.get_or_create(user=staff)[0].key,
        "product_id": str(product.pk),
    }


def _seed_orders(total: int, bench_customer: UUID, product: Any) -> None:
    """Background orders in order_views, folded by the domain and written by the
    projection's guarded upsert (no events: see the module docstring)."""
    from django.db import transaction
    from django.utils import timezone

    from eventstore.projections import upsert_guarded
    from orders.domain import CatalogueItem, Order, ShippingAddress
    from orders.models import OrderView
    from orders.projections import order_view_row

    missing = total - OrderView.objects.count()
    if missing <= 0:
        return
    rng = random.Random(7)
    customers = [bench_customer, *(uuid4() for _ in range(999))]
    items = [
        CatalogueItem(uuid4(), f"BG-{n:03d}", f"Background {n}", Decimal(f"{n}.50"), "EUR")
        for n in range(1, 21)
    ]
    address = ShippingAddress("Bench", "1 Load St", "Berlin", "10115", "DE")
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
    # The steady state autovacuum would reach: statistics and a visibility map, so counts
    # can use an index-only scan.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE order_views")


# --- benchmarks ----------------------------------------------------------------------------


def _constant(port: int, token: str) -> Callable[[], None]:
    def constant() -> None:
        status, _, body = request(port, "GET", "/bench/constant/", token=token)
        expect(status, 200, body)

    return constant


@cache
def _warm() -> None:
    env = setup()
    measure(_constant(env["port"], env["customer_token"]), 1)


def _compare(name: str, operation: Callable[[], None], unit: str = "req/s") -> Result:
    """Measure the operation between two half-length baseline runs, so that load from
    elsewhere on the machine shifts value and baseline alike."""
    env = setup()
    _warm()
    constant = _constant(env["port"], env["customer_token"])
    before = measure(constant, SECONDS / 2)
    value = measure(operation)
    after = measure(constant, SECONDS / 2)
    base = (before + after) / 2
    return {
        "name": name,
        "value": round(value, 1),
        "unit": unit,
        "baseline": round(base, 1),
        "ratio": round(value / base, 3),
    }


def bench_bare_drf_view() -> Result:
    port = setup()["port"]

    def bare() -> None:
        status, _, body = request(port, "GET", "/bench/bare/")
        expect(status, 200, body)

    return _compare("baseline: bare DRF view (no auth, no throttling)", bare)


def bench_create_and_confirm() -> Result:
    env = setup()
    port, token = env["port"], env["customer_token"]
    body = {
        "items": [{"product_id": env["product_id"], "quantity": 2}],
        "shipping_address": {
            "name": "Bench",
            "line1": "1 Load St",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
    }

    def create_confirm() -> None:
        status, _, created = request(port, "POST", "/api/v1/orders/", body, token=token)
        expect(status, 201, created)
        order_id = json.loads(created)["id"]
        status, _, confirmed = request(
            port,
            "POST",
            f"/api/v1/orders/{order_id}/confirm/",
            {"payment_token": "tok_ok"},
            token=token,
        )
        expect(status, 200, confirmed)

    return _compare("orders: create + confirm (2 requests)", create_confirm, "orders/s")


def bench_order_detail() -> Result:
    env = setup()
    port, token = env["port"], env["customer_token"]
    status, _, created = request(
        port,
        "POST",
        "/api/v1/orders/",
        {"items": [{"product_id": env["product_id"], "quantity": 1}]},
        token=token,
    )
    expect(status, 201, created)
    path = f"/api/v1/orders/{json.loads(created)['id']}/"

    def detail() -> None:
        status, _, body = request(port, "GET", path, token=token)
        expect(status, 200, body)

    return _compare("orders: GET detail", detail)


def bench_order_list() -> Result:
    env = setup()
    port, token = env["port"], env["staff_token"]

    def listing() -> None:
        status, _, body = request(port, "GET", "/api/v1/orders/", token=token)
        expect(status, 200, body)

    return _compare(f"orders: GET list, staff, over {BACKGROUND_ORDERS:,} orders", listing)


def teardown() -> None:
    if setup.cache_info().currsize:
        setup()["server"].stop()


BENCHMARKS: list[Callable[[], Result]] = [
    bench_bare_drf_view,
    bench_create_and_confirm,
    bench_order_detail,
    bench_order_list,
]


def main() -> None:
    try:
        results = [benchmark() for benchmark in BENCHMARKS]
    finally:
        teardown()
    print(f"{'benchmark':58} {'value':>10} {'baseline':>10} {'ratio':>7}")
    for r in results:
        print(f"{r['name']:58} {r['value']:>10} {r['baseline']:>10} {r['ratio']:>7}")


if __name__ == "__main__":
    main()
