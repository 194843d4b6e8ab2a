"""Catalogue and stock reads."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

import redis
from django.db.models import F, QuerySet, Sum
from django.db.models.functions import Coalesce

from commerce_project.metrics import redis_fail_open
from eventstore.prepared import fetch_prepared

from .exceptions import ProductNotFound
from .models import Product, Reservation, StockItem, StockMovement
from .stock_cache import (
    CatalogueValues,
    ProductEntry,
    StockLevel,
    catalogue_cache_read,
    product_cache_write_on_commit,
    stock_cache_read,
    stock_cache_write_on_commit,
)

logger = logging.getLogger(__name__)


def product_list(
    *, include_inactive: bool = False, in_stock: bool | None = None
) -> QuerySet[Product]:
    """The catalogue, with stock joined. `in_stock` filters on the database's numbers."""
    products = Product.objects.select_related("stock")
    if not include_inactive:
        products = products.filter(active=True)
    if in_stock is True:
        products = products.filter(stock__on_hand__gt=F("stock__reserved"))
    elif in_stock is False:
        products = products.exclude(stock__on_hand__gt=F("stock__reserved"))
    return products


class ActiveCatalogue:
    """The active products in catalogue order (name, then id) as rows of `columns` and
    `available` (units free from the stock row, 0 without one), for the paginator: what
    `public_catalogue_rows(product_list().order_by("name", "id"), columns)` gives, read by
    written-out prepared statements instead (the public catalogue page is the busiest list,
    and building and compiling its query cost more than running it). `page_with_total`
    reads a page and the number of active products in one statement; `count()` and slicing
    are what Django's Paginator uses otherwise."""

    def __init__(self, columns: Sequence[str]) -> None:
        self._names = (*columns, "available")
        self._sql = _catalogue_page_sql(tuple(columns))

    def page_with_total(self, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """The rows of one page and the number of active products (0 rows: counted apart,
        since an empty page carries no total)."""
        rows = fetch_prepared(self._sql, [limit, offset])
        if not rows:
            return [], self.count()
        names = self._names
        return [dict(zip(names, row[:-1], strict=True)) for row in rows], int(rows[0][-1])

    def count(self) -> int:
        return int(fetch_prepared(_ACTIVE_COUNT_SQL, [])[0][0])

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[dict[str, Any]]:
        start, stop = index.start or 0, index.stop
        if index.step not in (None, 1) or stop is None or not 0 <= start <= stop:
            raise TypeError("the catalogue takes bounded forward slices only")
        return self.page_with_total(start, stop - start)[0] if stop > start else []


_ACTIVE_COUNT_SQL = 'SELECT count(*) FROM "products" WHERE "active"'


@functools.cache
def _catalogue_page_sql(columns: tuple[str, ...]) -> str:
    column_of = {field.name: field.column for field in Product._meta.concrete_fields}
    selected = ", ".join(f'"products"."{column_of[name]}"' for name in columns)
    # The stock row is read for the page's rows only (the window's total needs none).
    return (
        f"SELECT {selected}, coalesce(("
        ' SELECT "on_hand" - "reserved" FROM "stock_items"'
        ' WHERE "stock_items"."product_id" = "products"."id"'
        '), 0), count(*) OVER () FROM "products" WHERE "products"."active" '
        'ORDER BY "products"."name", "products"."id" LIMIT %s OFFSET %s'
    )


def public_catalogue_rows(products: QuerySet[Product], columns: Sequence[str]) -> QuerySet[Any]:
    """`products` as rows of `columns` and `available` (units free from the stock row, 0
    without one): the database's number, read with the page in the same query."""
    return products.values(
        *columns, available=Coalesce(F("stock__on_hand") - F("stock__reserved"), 0)
    )


def product_get(*, product_id: UUID | str, include_inactive: bool = False) -> Product:
    """Raises ProductNotFound for unknown (or, unless asked, inactive) products, and for an
    id that is not a UUID at all (the URL pattern lets some through): PostgreSQL never sees
    it."""
    try:
        pk = product_id if isinstance(product_id, UUID) else UUID(product_id)
        return product_list(include_inactive=include_inactive).get(pk=pk)
    except (Product.DoesNotExist, ValueError) as exc:
        raise ProductNotFound(product_id) from exc


def products_by_id(product_ids: Iterable[UUID]) -> dict[UUID, Product]:
    """Products (active or not) by id, one query; unknown ids are left out."""
    return {p.id: p for p in Product.objects.filter(pk__in=list(product_ids))}


def product_availability(product_ids: Iterable[UUID]) -> dict[UUID, int]:
    """Available units per product from the stock cache — one MGET — with products missing
    from the cache read from the database and written back. Redis down: every value comes
    from the database and a warning is logged. Unknown products are left out.

    Advisory numbers for display and early answers; never a basis for reserving."""
    ids = list(dict.fromkeys(product_ids))
    if not ids:
        return {}
    try:
        cached = stock_cache_read(ids)
    except redis.RedisError as exc:
        logger.warning("stock cache unreachable, availability read from the database: %s", exc)
        redis_fail_open.labels("stock_cache").inc()
        return {level.product_id: level.available for level in _levels_from_db(ids)}
    missing = [pid for pid in ids if pid not in cached]
    if missing:
        levels = _levels_from_db(missing)
        # After commit: inside a transaction these numbers might include uncommitted work.
        stock_cache_write_on_commit(levels)
        cached.update({level.product_id: level.available for level in levels})
    return cached


class ProductSnapshot(NamedTuple):
    """What a cart needs of a product: catalogue fields and current availability. A named
    tuple: as immutable as a frozen dataclass and cheaper to build, one per cart line on
    every cart read."""

    product_id: UUID
    sku: str
    name: str
    price: Decimal
    currency: str
    active: bool
    available: int


def product_entry(product: Product) -> ProductEntry:
    return ProductEntry(
        product_id=product.id,
        sku=product.sku,
        name=product.name,
        price=product.price,
        currency=product.currency,
        active=product.active,
        version=int(product.updated_at.timestamp() * 1_000_000),
    )


def product_snapshots(
    product_ids: Iterable[UUID], *, cached: CatalogueValues | None = None
) -> dict[UUID, ProductSnapshot]:
    """Products (active or not) with availability, from the Redis catalogue cache in one
    round trip (none when the caller read the cache already and passes it as `cached`);
    what is missing there comes from one database query and is written back after commit.
    Redis down: all from the database, with a warning. Unknown ids are left out. Prices
    here are for display and early checks; an order prices from the database."""
    ids = list(dict.fromkeys(product_ids))
    if not ids:
        return {}
    if cached is None:
        try:
            cached = catalogue_cache_read(ids)
        except redis.RedisError as exc:
            logger.warning("catalogue cache unreachable, products read from the database: %s", exc)
            redis_fail_open.labels("catalogue_cache").inc()
            return _snapshots_from_db(ids, write_back=False)
    available, entries = cached.available, cached.entries
    snapshots: dict[UUID, ProductSnapshot] = {}
    missing = []
    for pid in ids:
        entry, units = entries.get(pid), available.get(pid)
        if entry is None or units is None:
            missing.append(pid)
        else:
            snapshots[pid] = ProductSnapshot(
                pid, entry.sku, entry.name, entry.price, entry.currency, entry.active, units
            )
    if not missing:
        return snapshots  # in the order of `ids`, the common case: no second pass
    snapshots.update(_snapshots_from_db(missing, write_back=True))
    return {pid: snapshots[pid] for pid in ids if pid in snapshots}


def _snapshots_from_db(product_ids: list[UUID], *, write_back: bool) -> dict[UUID, ProductSnapshot]:
    products = list(Product.objects.filter(pk__in=product_ids).select_related("stock"))
    if write_back:
        # After commit: inside a transaction these rows might include uncommitted work.
        product_cache_write_on_commit(product_entry(p) for p in products)
        stock_cache_write_on_commit(
            StockLevel(p.id, p.stock.available, p.stock.version) for p in products
        )
    return {
        p.id: ProductSnapshot(p.id, p.sku, p.name, p.price, p.currency, p.active, p.stock.available)
        for p in products
    }


def _levels_from_db(product_ids: list[UUID]) -> list[StockLevel]:
    rows = StockItem.objects.filter(pk__in=product_ids).values_list(
        "product_id", "on_hand", "reserved", "version"
    )
    return [
        StockLevel(pid, on_hand - reserved, version) for pid, on_hand, reserved, version in rows
    ]


def catalogue_all() -> Iterable[tuple[ProductEntry, StockLevel]]:
    """Every product and its stock level from the database, streamed (cache warming)."""
    products = Product.objects.order_by("pk").select_related("stock")
    for product in products.iterator(chunk_size=2000):
        stock = product.stock
        yield product_entry(product), StockLevel(product.id, stock.available, stock.version)


def stock_movement_list(*, product_id: UUID) -> QuerySet[StockMovement]:
    return StockMovement.objects.filter(product_id=product_id).order_by("-id")


def reservations_of_order(*, order_id: UUID) -> list[Reservation]:
    """The order's reservations in product order, whatever their status."""
    return list(Reservation.objects.filter(order_id=order_id).order_by("product_id"))


@dataclass(frozen=True)
class StockDrift:
    """A product whose stock row disagrees with its ledger or its active reservations."""

    product_id: UUID
    sku: str
    on_hand: int
    reserved: int
    ledger_on_hand: int
    ledger_reserved: int
    active_reservations: int

    def describe(self) -> str:
        return (
            f"{self.sku} ({self.product_id}): on_hand {self.on_hand} vs ledger "
            f"{self.ledger_on_hand}; reserved {self.reserved} vs ledger {self.ledger_reserved} "
            f"and active reservations {self.active_reservations}"
        )


def stock_drift() -> list[StockDrift]:
    """Recomputes every product's on_hand and reserved from the movement ledger (and
    reserved again from the ACTIVE reservations) and returns the products that differ."""
    ledger = {
        row["product_id"]: row
        for row in StockMovement.objects.order_by()
        .values("product_id")
        .annotate(on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta"))
    }
    held = dict(
        Reservation.objects.filter(status=Reservation.Status.ACTIVE)
        .order_by()
        .values("product_id")
        .annotate(total=Sum("quantity"))
        .values_list("product_id", "total")
    )
    drifts: list[StockDrift] = []
    rows = StockItem.objects.order_by("product__sku").values_list(
        "product_id", "product__sku", "on_hand", "reserved"
    )
    for pid, sku, on_hand, reserved in rows:
        sums = ledger.get(pid, {})
        ledger_on_hand = int(sums.get("on_hand") or 0)
        ledger_reserved = int(sums.get("reserved") or 0)
        active = int(held.get(pid) or 0)
        if (on_hand, reserved, reserved) != (ledger_on_hand, ledger_reserved, active):
            drifts.append(
                StockDrift(pid, sku, on_hand, reserved, ledger_on_hand, ledger_reserved, active)
            )
    return drifts
