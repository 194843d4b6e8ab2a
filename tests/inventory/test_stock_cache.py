"""The Redis stock cache: written after commit only, read with fallback, never stale."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings

from inventory import services
from inventory.models import StockItem
from inventory.selectors import product_availability, product_snapshots
from inventory.stock_cache import (
    ProductEntry,
    StockLevel,
    product_cache_key,
    product_cache_write,
    stock_cache_forget,
    stock_cache_key,
    stock_cache_write,
)
from tests.inventory.factories import ProductFactory


class Boom(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_every_change_is_written_to_the_cache_after_commit(raw_redis: redis.Redis) -> None:
    # given
    mug = ProductFactory(stock=10)
    assert raw_redis.get(stock_cache_key(mug.id)) == "10"
    # when
    order_id = uuid.uuid4()
    services.stock_reserve(order_id=order_id, lines=[(mug.id, 4)])
    after_reserve = raw_redis.get(stock_cache_key(mug.id))
    services.stock_release(order_id=order_id)
    after_release = raw_redis.get(stock_cache_key(mug.id))
    services.stock_adjust(product_id=mug.id, delta=-1, actor="a", reason="broken")
    # then
    assert (after_reserve, after_release) == ("6", "10")
    assert raw_redis.get(stock_cache_key(mug.id)) == "9"
    assert 0 < raw_redis.ttl(stock_cache_key(mug.id)) <= settings.INVENTORY_CACHE_TTL


@pytest.mark.django_db(transaction=True)
def test_the_cache_is_written_only_when_the_transaction_commits(raw_redis: redis.Redis) -> None:
    # given
    mug = ProductFactory(stock=10)
    seen_inside: list[str | None] = []

    def restock_then_fail() -> None:
        with transaction.atomic():
            services.stock_restock(product_id=mug.id, quantity=5, actor="a", reason="")
            seen_inside.append(raw_redis.get(stock_cache_key(mug.id)))
            raise Boom

    # when the restock happens inside a transaction that then rolls back
    with pytest.raises(Boom):
        restock_then_fail()
    # then the cache never saw the 15
    assert seen_inside == ["10"]
    assert raw_redis.get(stock_cache_key(mug.id)) == "10"
    assert StockItem.objects.get(pk=mug.id).on_hand == 10


@pytest.mark.django_db(transaction=True)
def test_a_missing_key_is_read_from_the_database_and_written_back(
    raw_redis: redis.Redis,
) -> None:
    # given a product whose cache key was lost
    mug, pen = ProductFactory(stock=7), ProductFactory(stock=3)
    stock_cache_forget([mug.id])
    assert raw_redis.get(stock_cache_key(mug.id)) is None
    # when
    availability = product_availability([mug.id, pen.id, uuid.uuid4()])
    # then unknown products are left out, and the missing key is back
    assert availability == {mug.id: 7, pen.id: 3}
    assert raw_redis.get(stock_cache_key(mug.id)) == "7"


@pytest.mark.django_db
def test_a_fallback_read_inside_a_transaction_waits_for_commit(
    raw_redis: redis.Redis, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    # given
    mug = ProductFactory(stock=7)
    stock_cache_forget([mug.id])
    # when
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert product_availability([mug.id]) == {mug.id: 7}
    # then the write back is deferred until the transaction commits
    assert raw_redis.get(stock_cache_key(mug.id)) is None
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_redis_down_means_availability_from_the_database(
    closed_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    mug = ProductFactory(stock=7)
    # when
    with override_settings(REDIS_URL=closed_redis_url), caplog.at_level(logging.WARNING):
        availability = product_availability([mug.id])
    # then
    assert availability == {mug.id: 7}
    assert "stock cache unreachable" in caplog.text


def test_an_older_version_never_overwrites_a_newer_one(raw_redis: redis.Redis) -> None:
    # given the after-commit writes of two changes arrive out of order
    product_id = uuid.uuid4()
    stock_cache_write([StockLevel(product_id, available=4, version=8)])
    # when
    stock_cache_write([StockLevel(product_id, available=9, version=7)])
    # then
    assert raw_redis.get(stock_cache_key(product_id)) == "4"
    stock_cache_write([StockLevel(product_id, available=2, version=9)])
    assert raw_redis.get(stock_cache_key(product_id)) == "2"


def test_a_failed_cache_write_is_logged_not_raised(
    closed_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with override_settings(REDIS_URL=closed_redis_url), caplog.at_level(logging.WARNING):
        stock_cache_write([StockLevel(uuid.uuid4(), available=1, version=1)])
    assert "stock cache write" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_change_whose_cache_write_failed_is_logged_and_its_stale_value_expires_soon(
    raw_redis: redis.Redis, closed_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # given a committed product, cached
    mug = ProductFactory(stock=10)
    assert raw_redis.get(stock_cache_key(mug.id)) == "10"
    # when a restock commits while Redis is unreachable (the after-commit write fails)
    with override_settings(REDIS_URL=closed_redis_url), caplog.at_level(logging.WARNING):
        services.stock_restock(product_id=mug.id, quantity=5, actor="a", reason="")
    # then the failure is logged with the product it concerns
    assert "stock cache write" in caplog.text
    assert str(mug.id) in caplog.text
    # and once Redis is back the old value is still there, but bound to expire within the
    # (short) TTL, after which reads fall back to the database and heal the key
    assert raw_redis.get(stock_cache_key(mug.id)) == "10"
    assert settings.INVENTORY_CACHE_TTL <= 60
    assert 0 < raw_redis.ttl(stock_cache_key(mug.id)) <= settings.INVENTORY_CACHE_TTL


def test_every_write_path_leaves_a_bounded_ttl_even_when_it_is_refused(
    raw_redis: redis.Redis,
) -> None:
    # given keys with an old value and no TTL (or one longer than the setting allows, as a
    # key written under a longer INVENTORY_CACHE_TTL_SECONDS has), at a version newer than
    # what the writes below carry, so the version guard refuses their values
    product_id, other_id = uuid.uuid4(), uuid.uuid4()
    raw_redis.set(stock_cache_key(product_id), "60")
    raw_redis.set(f"{stock_cache_key(product_id)}:version", "9")
    raw_redis.set(stock_cache_key(other_id), "7", ex=86_400)
    raw_redis.set(f"{stock_cache_key(other_id)}:version", "9", ex=86_400)
    entry = ProductEntry(product_id, "SKU", "Old name", Decimal("1.00"), "EUR", True, 5)
    raw_redis.set(
        product_cache_key(product_id),
        '{"v":9,"sku":"SKU","name":"Old","price":"1.00","currency":"EUR","active":true}',
    )
    # when every write path runs
    stock_cache_write([StockLevel(product_id, 65, 3), StockLevel(other_id, 8, 3)])
    product_cache_write([entry])
    # then the values stand (older versions never win) but each key now expires in time
    assert raw_redis.get(stock_cache_key(product_id)) == "60"
    ttl = settings.INVENTORY_CACHE_TTL
    for key in (
        stock_cache_key(product_id),
        f"{stock_cache_key(product_id)}:version",
        stock_cache_key(other_id),
        f"{stock_cache_key(other_id)}:version",
        product_cache_key(product_id),
    ):
        assert 0 < raw_redis.ttl(key) <= ttl, key


@pytest.mark.django_db(transaction=True)
def test_keys_written_after_commit_and_by_fallback_reads_have_a_ttl(
    raw_redis: redis.Redis,
) -> None:
    # given
    mug = ProductFactory(stock=4)
    services.product_update(product_id=mug.id, name="Renamed")
    keys = [stock_cache_key(mug.id), product_cache_key(mug.id)]
    ttl = settings.INVENTORY_CACHE_TTL
    assert all(0 < raw_redis.ttl(key) <= ttl for key in keys)
    # when the keys are lost and a read falls back to the database
    stock_cache_forget([mug.id])
    product_snapshots([mug.id])
    # then the written-back keys expire too
    assert all(0 < raw_redis.ttl(key) <= ttl for key in keys)


@pytest.mark.django_db
def test_warm_inventory_cache_writes_every_product(raw_redis: redis.Redis) -> None:
    # given (inside the test transaction, nothing reached the cache)
    products = [ProductFactory(stock=n) for n in (0, 5, 12)]
    assert raw_redis.get(stock_cache_key(products[1].id)) is None
    # when
    call_command("warm_inventory_cache", stdout=io.StringIO())
    # then
    assert [raw_redis.get(stock_cache_key(p.id)) for p in products] == ["0", "5", "12"]


@pytest.mark.django_db
def test_verify_stock_passes_when_the_ledger_matches() -> None:
    mug = ProductFactory(stock=10)
    services.stock_reserve(order_id=uuid.uuid4(), lines=[(mug.id, 2)])
    services.stock_adjust(product_id=mug.id, delta=-1, actor="a", reason="count")
    call_command("verify_stock", stdout=io.StringIO())


@pytest.mark.django_db
def test_verify_stock_reports_drift_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    # given a stock row changed behind the ledger's back
    mug, fine = ProductFactory(stock=10, sku="DRIFT-1"), ProductFactory(stock=3)
    StockItem.objects.filter(pk=mug.id).update(on_hand=11)
    # when / then
    with pytest.raises(CommandError, match="1 products drifted"):
        call_command("verify_stock")
    report = capsys.readouterr().err
    assert "DRIFT-1" in report
    assert "on_hand 11 vs ledger 10" in report
    assert fine.sku not in report


@pytest.mark.django_db(transaction=True)
def test_carts_are_priced_from_the_cache_which_follows_every_product_change(
    django_assert_num_queries: Callable[..., Any],
) -> None:
    # given committed products (their cache entries were written after commit)
    mug = ProductFactory(stock=5, price=Decimal("12.50"))
    pen = ProductFactory(stock=2)
    # when
    with django_assert_num_queries(0):
        snapshots = product_snapshots([mug.id, pen.id])
    # then
    assert (snapshots[mug.id].price, snapshots[mug.id].available) == (Decimal("12.50"), 5)
    # and a change reaches the cache once committed
    services.product_update(product_id=mug.id, price=Decimal("14.00"), active=False)
    with django_assert_num_queries(0):
        changed = product_snapshots([mug.id])[mug.id]
    assert (changed.price, changed.active) == (Decimal("14.00"), False)


@pytest.mark.django_db(transaction=True)
def test_a_missing_product_entry_is_read_from_the_database_and_written_back(
    django_assert_num_queries: Callable[..., Any],
) -> None:
    mug = ProductFactory(stock=5, name="Enamel mug")
    stock_cache_forget([mug.id])
    with django_assert_num_queries(1):
        assert product_snapshots([mug.id])[mug.id].name == "Enamel mug"
    with django_assert_num_queries(0):
        assert product_snapshots([mug.id])[mug.id].available == 5


@pytest.mark.django_db
def test_redis_down_means_products_from_the_database(closed_redis_url: str) -> None:
    mug = ProductFactory(stock=5)
    with override_settings(REDIS_URL=closed_redis_url):
        assert product_snapshots([mug.id])[mug.id].available == 5
