"""What observability costs (issue 17): GET order detail on a server with the request
metrics on, in multiprocess mode as the image runs them (PROMETHEUS_MULTIPROC_DIR), against
the same endpoint on a server with METRICS_ENABLED=false. Goal: 0.95x or better.

Both servers are started for this row only (bench.http.server with extra variables), serve
the same database, and are measured in turns like every other row.
"""

from __future__ import annotations

import tempfile

from bench.fixtures import stocked_products, user_tokens
from bench.http import CONNECTIONS, WARM_UP_SECONDS, Caller, Client, load, server
from bench.measure import Result, compared, in_turns

METRICS_OFF = "same view, METRICS_ENABLED=false"


def bench_metrics_cost() -> list[Result]:
    metrics_dir = tempfile.mkdtemp(prefix="bench-prometheus-")
    on = server(extra_env=(("PROMETHEUS_MULTIPROC_DIR", metrics_dir), ("METRICS_ENABLED", "true")))
    off = server(extra_env=(("METRICS_ENABLED", "false"),))
    product_id = str(stocked_products(1, available=1_000_000)[0].id)
    callers = []
    for token in user_tokens("bench-metrics", CONNECTIONS):
        with Client(Caller(token), on.port) as client:
            order = client.json(
                "POST",
                "/api/v1/orders/",
                {"items": [{"product_id": product_id, "quantity": 1}]},
                expect=201,
            )
        callers.append(Caller(token, {"path": f"/api/v1/orders/{order['id']}/"}))

    def detail(client: Client, n: int) -> None:
        client.call("GET", client.context["path"])

    for port in (on.port, off.port):
        load(detail, callers, WARM_UP_SECONDS, port=port)
    ours, theirs = in_turns(
        lambda: load(detail, callers, port=on.port),
        lambda: load(detail, callers, port=off.port),
    )
    return [
        compared(
            "metrics on: GET order detail",
            ours,
            theirs,
            unit="req/s",
            baseline=METRICS_OFF,
            goal_ratio=0.95,
        )
    ]


BENCHMARKS = [bench_metrics_cost]
