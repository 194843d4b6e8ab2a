"""Per-process counters move when their event happens in this process, and numbers written
by several processes into one PROMETHEUS_MULTIPROC_DIR add up in one scrape."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.test import override_settings
from prometheus_client import REGISTRY

from accounts.models import User
from inventory.exceptions import OutOfStock
from inventory.selectors import product_availability
from inventory.services import stock_reserve
from tests.conftest import client_for
from tests.inventory.factories import ProductFactory
from tests.operations.scrape import scrape, value
from tests.sagas.shop import advance, confirmed_order, stocked_product

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_refused_reservation_is_counted() -> None:
    # given a product with two units
    product = ProductFactory(stock=2)
    before = sample("commerce_stock_reservation_conflicts_total", reason="out_of_stock")
    # when three are asked for
    with pytest.raises(OutOfStock):
        stock_reserve(order_id=uuid.uuid4(), lines=[(product.pk, 3)])
    # then the conflict is counted
    after = sample("commerce_stock_reservation_conflicts_total", reason="out_of_stock")
    assert after == before + 1


def test_an_idempotent_replay_is_counted(customer: User) -> None:
    # given a cart created with an idempotency key
    client = client_for(customer)
    headers = {"Idempotency-Key": "metrics-replay-1"}
    first = client.post("/api/v1/carts/", {}, format="json", headers=headers)
    assert first.status_code == 201
    before = sample("commerce_idempotent_replays_total")
    # when the same request is sent again
    again = client.post("/api/v1/carts/", {}, format="json", headers=headers)
    # then it was replayed and counted
    assert again.status_code == 201
    assert again.json() == first.json()
    assert sample("commerce_idempotent_replays_total") == before + 1


_WRITER = (
    "from commerce_project import metrics\n"
    "metrics.idempotent_replays.inc({n})\n"
    "metrics.saga_step_duration.labels('order_fulfilment', 'reserve_stock', 'succeeded')"
    ".observe(0.2)\n"
)


def test_numbers_written_by_two_processes_add_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given two processes (like two gunicorn or Celery pool processes) sharing a directory
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "ENV_FILE": ""}
    for n in (3, 5):
        subprocess.run([sys.executable, "-c", _WRITER.format(n=n)], cwd=ROOT, env=env, check=True)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2  # one file per process
    # when the web process scrapes in multiprocess mode
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = scrape()
    # then the counters and histograms of both processes are summed
    assert value(text, "commerce_idempotent_replays_total") == 8
    step = {"saga_type": "order_fulfilment", "step": "reserve_stock", "outcome": "succeeded"}
    assert value(text, "commerce_saga_step_duration_seconds_count", step) == 2
    assert value(text, "commerce_saga_step_duration_seconds_bucket", {**step, "le": "0.25"}) == 2
    # and the business figures are still read from the database
    assert value(text, "commerce_business_metrics_up") == 1


def test_saga_steps_are_timed_by_type_step_and_outcome(customer: User) -> None:
    # given a confirmed order whose saga will be run in this process
    product = stocked_product(5)
    labels = {"saga_type": "order_fulfilment", "step": "reserve_stock", "outcome": "succeeded"}
    declined = {"saga_type": "order_fulfilment", "outcome": "permanent_error"}
    before = sample("commerce_saga_step_duration_seconds_count", **labels)
    declined_before = sample(
        "commerce_saga_step_duration_seconds_count", step="authorize_payment", **declined
    )
    # when one saga completes and another's payment is declined
    advance(confirmed_order(customer, [(product, 1)]))
    advance(confirmed_order(customer, [(product, 1)], token="tok_declined"))
    # then every step run was observed under its outcome
    assert sample("commerce_saga_step_duration_seconds_count", **labels) == before + 2
    assert (
        sample("commerce_saga_step_duration_seconds_count", step="authorize_payment", **declined)
        == declined_before + 1
    )
    compensation = {**labels, "step": "reserve_stock:compensate"}
    assert sample("commerce_saga_step_duration_seconds_count", **compensation) >= 1


def test_redis_down_is_counted_as_a_fail_open(closed_redis_url: str) -> None:
    # given a product, and the count of stock cache fail-opens so far
    mug = ProductFactory(stock=7)
    before = sample("commerce_redis_fail_open_total", component="stock_cache")
    # when availability is read while Redis is unreachable
    with override_settings(REDIS_URL=closed_redis_url):
        assert product_availability([mug.id]) == {mug.id: 7}
    # then the process counted that it went on without Redis
    assert sample("commerce_redis_fail_open_total", component="stock_cache") == before + 1
