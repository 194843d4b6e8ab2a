"""Stock and catalogue use cases. Each function owns its transaction (a savepoint when the
caller already has one), writes one StockMovement per stock change and schedules the stock
cache write for after COMMIT.

Locking: every stock row is changed by one UPDATE whose WHERE clause carries the guard, and
rows of a multi-line operation are always locked in ascending product-id order, so two
operations can wait for each other but never deadlock. Reservation rows are locked with
SELECT … FOR UPDATE before their stock rows, in the same order.

Reserving, releasing, returning and committing are one SQL statement each (_RESERVE_SQL,
_SETTLE_SQL: the guarded UPDATE, the reservation rows and the ledger rows together), sent as
a server-side prepared statement; in autocommit that statement is the whole transaction.
Reserving does not retry: its guard is availability re-checked on the locked row, not a
version read earlier, so concurrent reservations queue on the row lock instead of losing
races (docs/inventory-and-carts.md, "Reserving").

What the saga calls (all idempotent for the same order):
    stock_reserve(order_id=…, lines=…)   -> list[Reservation]   (OutOfStock, UnknownProduct)
    stock_commit(order_id=…)             -> list[Reservation]   (ReservationNotActive)
    stock_release(order_id=…)            -> list[Reservation]
    stock_return(order_id=…)             -> list[Reservation]
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from commerce_project.errors import InvalidInput
from commerce_project.metrics import stock_reservation_conflicts
from eventstore.prepared import configured_connection, single_statement_block

from .exceptions import (
    OutOfStock,
    ProductNotFound,
    ReservationNotActive,
    ShortLine,
    UnknownProduct,
)
from .models import Product, Reservation, StockItem, StockMovement
from .selectors import product_entry
from .stock_cache import StockLevel, product_cache_write_on_commit, stock_cache_write_on_commit

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"

Lines = Sequence[tuple[UUID, int]] | Mapping[UUID, int]
ReservationGuard = Callable[[UUID], bool]

# One statement reserves every line of an order, or none (see stock_reserve). `locked`
# takes the stock rows of all lines in ascending product order (so two multi-line
# reservations never deadlock) and reads what is available now; only when every line is
# known and has enough does the UPDATE run (its gate is evaluated once, before it touches a
# row), guarded again by availability, and the reservation and ledger rows are inserted
# with it. Nothing happens when the order already has reservations (`existing`).
_RESERVE_SQL = """
WITH lines (product_id, quantity, reservation_id) AS (VALUES {values}),
existing AS (
  SELECT id, product_id, quantity, status, expires_at, created_at, updated_at
    FROM reservations WHERE order_id = %(order_id)s::uuid
),
locked AS MATERIALIZED (
  SELECT s.product_id, s.on_hand - s.reserved AS available, l.quantity
    FROM stock_items s JOIN lines l ON l.product_id = s.product_id
   WHERE NOT EXISTS (SELECT 1 FROM existing)
   ORDER BY s.product_id
     FOR UPDATE OF s
),
reserved AS (
  UPDATE stock_items s
     SET reserved = s.reserved + l.quantity, version = s.version + 1, updated_at = now()
    FROM locked l
   WHERE s.product_id = l.product_id
     AND s.on_hand - s.reserved >= l.quantity
     AND (SELECT count(*) FROM locked WHERE available >= quantity) = %(line_count)s::integer
  RETURNING s.product_id, s.on_hand - s.reserved AS available, s.version
),
held AS (
  INSERT INTO reservations
         (id, order_id, product_id, quantity, status, expires_at, created_at, updated_at)
  SELECT l.reservation_id, %(order_id)s::uuid, l.product_id, l.quantity, %(status)s::varchar,
         %(expires_at)s::timestamptz, %(now)s::timestamptz, %(now)s::timestamptz
    FROM lines l JOIN reserved r ON r.product_id = l.product_id
),
ledger AS (
  INSERT INTO stock_movements
         (product_id, kind, on_hand_delta, reserved_delta, reference, actor, reason, created_at)
  SELECT l.product_id, %(kind)s::varchar, 0, l.quantity, %(reference)s::varchar,
         %(actor)s::varchar, %(reason)s::varchar, %(now)s::timestamptz
    FROM lines l JOIN reserved r ON r.product_id = l.product_id
)
SELECT 'existing', product_id, NULL::bigint, NULL::bigint,
       id, quantity, status, expires_at, created_at, updated_at
  FROM existing
UNION ALL
SELECT 'line', product_id, available, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM locked
UNION ALL
SELECT 'reserved', product_id, available, version, NULL, NULL, NULL, NULL, NULL, NULL
  FROM reserved
"""

_RESERVE_LINE = "(%(p{i})s::uuid, %(q{i})s::integer, %(r{i})s::uuid)"

# One statement settles an order's reservations in `from_status` (release, return,
# commit): it locks all of the order's reservations in product order, then the stock rows
# of those in `from_status` in product order, moves the units, changes the status and
# writes the ledger. With `whole_order` (commit) it settles them only when every one is in
# `from_status`; the others come back unchanged ('held'). The CHECK
# constraints of stock_items refuse a change that would break reserved <= on_hand or go
# below zero: the statement then fails as a whole, nothing is changed.
# The order's reservations are found (and locked) by the order alone, their status checked
# afterwards: with the status in the same WHERE, the planner combined the order's index
# with the partial index of ACTIVE reservations, which until the next vacuum still holds an
# entry for every reservation released since, and a release read tens of thousands of them
# (2 ms instead of 0.25 under the reservation benchmark's churn).
_SETTLE_SQL = """
WITH mine AS MATERIALIZED (
  SELECT id, product_id, quantity, status, expires_at, created_at, updated_at
    FROM reservations
   WHERE order_id = %(order_id)s::uuid
   ORDER BY product_id
     FOR UPDATE
),
held AS MATERIALIZED (
  SELECT * FROM mine WHERE status = %(from_status)s::varchar OR %(whole_order)s::boolean
),
due AS MATERIALIZED (
  SELECT id, product_id, quantity
    FROM held
   WHERE status = %(from_status)s::varchar
     AND (NOT %(whole_order)s::boolean
          OR (SELECT bool_and(status = %(from_status)s::varchar) FROM held))
),
locked AS MATERIALIZED (
  SELECT s.product_id, d.quantity
    FROM stock_items s JOIN due d ON d.product_id = s.product_id
   ORDER BY s.product_id
     FOR UPDATE OF s
),
changed AS (
  UPDATE stock_items s
     SET on_hand = s.on_hand + %(on_hand_sign)s::integer * l.quantity,
         reserved = s.reserved + %(reserved_sign)s::integer * l.quantity,
         version = s.version + 1,
         updated_at = now()
    FROM locked l
   WHERE s.product_id = l.product_id
  RETURNING s.product_id, s.on_hand - s.reserved AS available, s.version
),
settled AS (
  UPDATE reservations r
     SET status = %(to_status)s::varchar, updated_at = %(now)s::timestamptz
    FROM due d
   WHERE r.id = d.id
  RETURNING r.id, r.product_id, r.quantity, r.status, r.expires_at, r.created_at, r.updated_at
),
ledger AS (
  INSERT INTO stock_movements
         (product_id, kind, on_hand_delta, reserved_delta, reference, actor, reason, created_at)
  SELECT d.product_id, %(kind)s::varchar, %(on_hand_sign)s::integer * d.quantity,
         %(reserved_sign)s::integer * d.quantity, %(reference)s::varchar,
         %(actor)s::varchar, %(reason)s::varchar, %(now)s::timestamptz
    FROM due d
)
SELECT 'settled', product_id, NULL::bigint, NULL::bigint,
       id, quantity, status, expires_at, created_at, updated_at
  FROM settled
UNION ALL
SELECT 'changed', product_id, available, version, NULL, NULL, NULL, NULL, NULL, NULL
  FROM changed
UNION ALL
SELECT 'held', product_id, NULL, NULL, id, quantity, status, expires_at, created_at, updated_at
  FROM held
 WHERE id NOT IN (SELECT id FROM due)
"""

_CHANGE_SQL = """
UPDATE stock_items
   SET on_hand = on_hand + %(on_hand_delta)s,
       reserved = reserved + %(reserved_delta)s,
       version = version + 1,
       updated_at = now()
 WHERE product_id = %(product_id)s
   AND on_hand + %(on_hand_delta)s >= reserved + %(reserved_delta)s
   AND reserved + %(reserved_delta)s >= 0
RETURNING on_hand, reserved, version
"""

# --- catalogue


def product_create(
    *,
    sku: str,
    name: str,
    price: Decimal,
    currency: str | None = None,
    description: str = "",
    active: bool = True,
    initial_stock: int = 0,
    actor: str = SYSTEM_ACTOR,
) -> Product:
    """Creates a product with its stock row; initial stock is booked as a RESTOCK."""
    if initial_stock < 0:
        raise InvalidInput(
            "Initial stock cannot be negative.",
            errors={"initial_stock": ["Must be zero or more."]},
        )
    with transaction.atomic():
        if Product.objects.filter(sku=sku).exists():
            raise InvalidInput(
                f"A product with SKU {sku!r} exists.",
                errors={"sku": ["A product with this SKU already exists."]},
            )
        product = Product.objects.create(
            sku=sku,
            name=name,
            description=description,
            price=price,
            currency=(currency or settings.INVENTORY_DEFAULT_CURRENCY).upper(),
            active=active,
        )
        stock_item_initialize(product=product)
        product_cache_write_on_commit([product_entry(product)])
        if initial_stock:
            stock_restock(
                product_id=product.id,
                quantity=initial_stock,
                actor=actor,
                reason="initial stock",
            )
    return product


def stock_item_initialize(*, product: Product) -> StockItem:
    """Gives a product its (empty) stock row; harmless when it already has one."""
    item, created = StockItem.objects.get_or_create(product=product)
    if created:
        stock_cache_write_on_commit([StockLevel(product.id, 0, item.version)])
    return item


def product_update(
    *,
    product_id: UUID,
    name: str | None = None,
    description: str | None = None,
    price: Decimal | None = None,
    currency: str | None = None,
    active: bool | None = None,
) -> Product:
    """Changes catalogue fields; the SKU is the product's identity and never changes."""
    changes: dict[str, object] = {
        "name": name,
        "description": description,
        "price": price,
        "currency": currency.upper() if currency else None,
        "active": active,
    }
    with transaction.atomic():
        product = Product.objects.select_for_update().filter(pk=product_id).first()
        if product is None:
            raise ProductNotFound(product_id)
        fields = [field for field, value in changes.items() if value is not None]
        for field in fields:
            setattr(product, field, changes[field])
        if fields:
            product.save(update_fields=[*fields, "updated_at"])
            product_cache_write_on_commit([product_entry(product)])
    return product


# --- stock levels changed by staff


def stock_restock(*, product_id: UUID, quantity: int, actor: str, reason: str) -> StockItem:
    """Adds received units to on_hand."""
    if quantity <= 0:
        raise InvalidInput(
            "Restock quantity must be positive.", errors={"quantity": ["Must be 1 or more."]}
        )
    with transaction.atomic():
        level = _change_stock(product_id, on_hand_delta=quantity, reserved_delta=0)
        if level is None:
            raise ProductNotFound(product_id)
        _record(
            [
                StockMovement(
                    product_id=product_id,
                    kind=StockMovement.Kind.RESTOCK,
                    on_hand_delta=quantity,
                    actor=actor,
                    reason=reason,
                )
            ],
            [level],
        )
        return StockItem.objects.get(pk=product_id)


def stock_adjust(*, product_id: UUID, delta: int, actor: str, reason: str) -> StockItem:
    """Corrects on_hand by `delta` (a count, shrinkage, damage). It may not go below the
    units reserved for orders: those have to be released first."""
    if delta == 0:
        raise InvalidInput("An adjustment must change the stock.", errors={"delta": ["Not 0."]})
    if not reason.strip():
        raise InvalidInput("An adjustment needs a reason.", errors={"reason": ["Required."]})
    with transaction.atomic():
        level = _change_stock(product_id, on_hand_delta=delta, reserved_delta=0)
        if level is None:
            item = StockItem.objects.filter(pk=product_id).first()
            if item is None:
                raise ProductNotFound(product_id)
            removable = item.on_hand - item.reserved
            raise InvalidInput(
                f"On hand would be {item.on_hand + delta}, below the {item.reserved} reserved.",
                errors={"delta": [f"At most {removable} units can be removed now."]},
            )
        _record(
            [
                StockMovement(
                    product_id=product_id,
                    kind=StockMovement.Kind.ADJUST,
                    on_hand_delta=delta,
                    actor=actor,
                    reason=reason,
                )
            ],
            [level],
        )
        return StockItem.objects.get(pk=product_id)


# --- reservations for orders


def stock_reserve(
    *,
    order_id: UUID,
    lines: Lines,
    expires_at: datetime | None = None,
) -> list[Reservation]:
    """Holds stock for every line of an order, or for none of them.

    Idempotent per order: when the order already holds reservations (ACTIVE or COMMITTED),
    they are returned unchanged, whatever `lines` says now. Duplicate product ids are summed.

    One statement (see _RESERVE_SQL). Raises OutOfStock naming every short line (nothing is
    held), UnknownProduct, or ReservationNotActive when the order's reservations were
    already released or expired.
    """
    wanted = _normalize_lines(lines)
    expires = expires_at or timezone.now() + settings.INVENTORY_RESERVATION_TTL
    try:
        with single_statement_block():
            outcome = _reserve_lines(order_id, wanted, expires)
    except IntegrityError:
        # A concurrent call for the same order won the UNIQUE(order_id, product) race and
        # our statement changed nothing; its reservations are the answer.
        existing = _reservations_of(order_id)
        if not existing:
            raise
        return _already_reserved(order_id, existing)
    return outcome


def stock_release(*, order_id: UUID) -> list[Reservation]:
    """Gives the order's ACTIVE reservations back (RELEASED). Idempotent: returns the
    reservations this call released, an empty list when there were none."""
    released, _ = _settle_statement(
        order_id=order_id,
        from_status=Reservation.Status.ACTIVE,
        to_status=Reservation.Status.RELEASED,
        kind=StockMovement.Kind.RELEASE,
        on_hand_sign=0,
        reserved_sign=-1,
        reason="released",
    )
    return released


def stock_commit(*, order_id: UUID) -> list[Reservation]:
    """The order was paid: its reserved units leave the shelf (on_hand and reserved both
    drop). Idempotent: already committed reservations are returned as they are.

    Raises ReservationNotActive when the order holds no reservation, or when it was
    released or expired — stock may have been sold to someone else, the caller must
    compensate (refund) rather than retry."""
    settled, unchanged = _settle_statement(
        order_id=order_id,
        from_status=Reservation.Status.ACTIVE,
        to_status=Reservation.Status.COMMITTED,
        kind=StockMovement.Kind.COMMIT,
        on_hand_sign=-1,
        reserved_sign=-1,
        reason="order paid",
        whole_order=True,
    )
    rows = sorted(settled + unchanged, key=lambda r: r.product_id)
    done = {Reservation.Status.COMMITTED, Reservation.Status.RETURNED}
    if rows and (settled or {row.status for row in rows} <= done):
        return rows
    raise ReservationNotActive(order_id, [row.status for row in rows])


def stock_return(*, order_id: UUID) -> list[Reservation]:
    """A paid order was cancelled or refunded before shipping: its committed units go back
    on hand (COMMITTED → RETURNED). Idempotent; ACTIVE reservations are left alone (use
    stock_release). Returns the reservations this call returned. Units that partial refunds
    already put back (`stock_units_return`) are not put back twice."""
    if _returned_by_refunds(order_id):
        return _return_the_rest(order_id)
    returned, _ = _settle_statement(
        order_id=order_id,
        from_status=Reservation.Status.COMMITTED,
        to_status=Reservation.Status.RETURNED,
        kind=StockMovement.Kind.RETURN,
        on_hand_sign=1,
        reserved_sign=0,
        reason="returned to stock",
    )
    return returned


_REFUND_RETURN_PREFIX = "refund "


def _returned_by_refunds(order_id: UUID) -> dict[UUID, int]:
    """Units of each product of the order that partial refunds put back on hand."""
    rows = (
        StockMovement.objects.filter(
            reference=str(order_id),
            kind=StockMovement.Kind.RETURN,
            reason__startswith=_REFUND_RETURN_PREFIX,
        )
        .values_list("product_id", "on_hand_delta")
        .order_by()
    )
    returned: dict[UUID, int] = {}
    for product_id, units in rows:
        returned[product_id] = returned.get(product_id, 0) + units
    return returned


def _return_the_rest(order_id: UUID) -> list[Reservation]:
    """stock_return for an order some of whose units came back with partial refunds: each
    committed reservation goes RETURNED, and only the units not already back go on hand."""
    with transaction.atomic():
        rows = list(
            Reservation.objects.select_for_update()
            .filter(order_id=order_id, status=Reservation.Status.COMMITTED)
            .order_by("product_id")
        )
        already = _returned_by_refunds(order_id)  # read under the reservations' locks
        levels: list[StockLevel] = []
        movements: list[StockMovement] = []
        for row in rows:
            units = row.quantity - already.get(row.product_id, 0)
            if units > 0:
                level = _change_stock(row.product_id, on_hand_delta=units, reserved_delta=0)
                assert level is not None  # adding on hand keeps reserved <= on_hand
                levels.append(level)
                movements.append(
                    StockMovement(
                        product_id=row.product_id,
                        kind=StockMovement.Kind.RETURN,
                        on_hand_delta=units,
                        reference=str(order_id),
                        actor=SYSTEM_ACTOR,
                        reason="returned to stock",
                    )
                )
            row.status = Reservation.Status.RETURNED
        Reservation.objects.filter(pk__in=[row.pk for row in rows]).update(
            status=Reservation.Status.RETURNED, updated_at=timezone.now()
        )
        _record(movements, levels)
    return rows


def stock_units_return(
    *, order_id: UUID, refund_id: UUID, lines: Sequence[tuple[UUID, int]], actor: str = "saga"
) -> int:
    """Units of some lines of an order came back with a partial refund and go back on hand
    (a RETURN movement per line, referenced by the order and naming the refund). The order's
    reservations stay as they are: only part of a line came back. Idempotent per refund
    (each product's stock row is locked, then the refund's movement looked for). Returns how
    many lines this call put back."""
    reason = f"{_REFUND_RETURN_PREFIX}{refund_id}"
    returned = 0
    with transaction.atomic():
        for product_id, quantity in sorted(lines):
            if quantity <= 0:
                continue
            if StockItem.objects.select_for_update().filter(pk=product_id).first() is None:
                raise ProductNotFound(product_id)
            done = StockMovement.objects.filter(
                product_id=product_id,
                kind=StockMovement.Kind.RETURN,
                reference=str(order_id),
                reason=reason,
            ).exists()
            if done:
                continue
            level = _change_stock(product_id, on_hand_delta=quantity, reserved_delta=0)
            assert level is not None  # adding on hand keeps reserved <= on_hand
            _record(
                [
                    StockMovement(
                        product_id=product_id,
                        kind=StockMovement.Kind.RETURN,
                        on_hand_delta=quantity,
                        reference=str(order_id),
                        actor=actor,
                        reason=reason,
                    )
                ],
                [level],
            )
            returned += 1
    return returned


# --- expiry

_reservation_guards: list[ReservationGuard] = []


def reservation_guard_register(guard: ReservationGuard) -> None:
    """Registers a predicate `guard(order_id) -> bool`; while any registered guard answers
    True for an order, its expired reservations are kept. The sagas app registers "this
    order's saga is still running" from its AppConfig.ready(), so inventory never imports
    sagas. Registering the same function twice has no effect."""
    if guard not in _reservation_guards:
        _reservation_guards.append(guard)


def reservation_guard_unregister(guard: ReservationGuard) -> None:
    if guard in _reservation_guards:
        _reservation_guards.remove(guard)


def reservation_is_protected(order_id: UUID) -> bool:
    return any(guard(order_id) for guard in _reservation_guards)


def reservations_expire(
    *,
    now: datetime | None = None,
    is_protected: ReservationGuard | None = None,
) -> int:
    """Releases ACTIVE reservations whose expires_at has passed (status EXPIRED), order by
    order, each order in its own transaction. Orders for which `is_protected(order_id)` is
    True are skipped; without the argument the registered guards decide. Reservations
    locked by a concurrent commit or release are left for the next run. Returns how many
    reservations expired."""
    cutoff = now or timezone.now()
    protected = is_protected or reservation_is_protected
    order_ids = list(
        Reservation.objects.filter(status=Reservation.Status.ACTIVE, expires_at__lte=cutoff)
        .order_by()
        .values_list("order_id", flat=True)
        .distinct()
    )
    expired = 0
    for order_id in order_ids:
        if protected(order_id):
            logger.info("reservations of order %s kept past expiry: protected", order_id)
            continue
        expired += _expire_order(order_id, cutoff)
    if expired:
        logger.info("expired %d reservations", expired)
    return expired


# --- internals


def _normalize_lines(lines: Lines) -> list[tuple[UUID, int]]:
    pairs = lines.items() if isinstance(lines, Mapping) else lines
    merged: dict[UUID, int] = {}
    for raw_id, quantity in pairs:
        product_id = raw_id if isinstance(raw_id, UUID) else UUID(str(raw_id))
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise InvalidInput(
                f"Quantity of {product_id} must be a positive integer, not {quantity!r}.",
                errors={"quantity": ["Must be a positive integer."]},
            )
        merged[product_id] = merged.get(product_id, 0) + quantity
    if not merged:
        raise InvalidInput("Nothing to reserve.", errors={"lines": ["At least one line."]})
    return sorted(merged.items())


def _reservations_of(order_id: UUID) -> list[Reservation]:
    return list(Reservation.objects.filter(order_id=order_id).order_by("product_id"))


def _already_reserved(order_id: UUID, rows: list[Reservation]) -> list[Reservation]:
    held = {Reservation.Status.ACTIVE, Reservation.Status.COMMITTED}
    if {row.status for row in rows} <= held:
        return rows
    raise ReservationNotActive(order_id, [row.status for row in rows])


class _PreparingCursor(psycopg.Cursor[Any]):
    """Binds on the server and prepares every statement it runs: the reservation statements
    run thousands of times, and planning them costs about as much as running them."""

    def execute(  # type: ignore[override]
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool = False
    ) -> Any:
        return super().execute(query, params, prepare=True, binary=binary)


def _prepared_cursor() -> CursorWrapper:
    """A cursor on Django's connection (same transaction, errors wrapped and queries logged
    like Django's) whose statements are server-side prepared, unless
    EVENTSTORE_PREPARED_STATEMENTS is off (a pooler in transaction mode cannot keep them;
    the statements then run unprepared). Django opens its connections with preparing off;
    eventstore.prepared's `configured_connection` turns it on for explicit requests only."""
    if not settings.EVENTSTORE_PREPARED_STATEMENTS:
        return connection.cursor()
    cursor = _PreparingCursor(configured_connection())
    # Django's wrappers take the DB-API cursor they wrap (the stubs say CursorWrapper).
    if connection.queries_logged:
        return connection.make_debug_cursor(cursor)  # type: ignore[arg-type]
    return connection.make_cursor(cursor)  # type: ignore[arg-type]


def _reserve_lines(
    order_id: UUID, wanted: list[tuple[UUID, int]], expires: datetime
) -> list[Reservation]:
    """Runs _RESERVE_SQL: one round trip that either holds every line (reservation and
    ledger rows included) or changes nothing and tells why."""
    now = timezone.now()
    reservation_ids = [uuid.uuid4() for _ in wanted]
    params: dict[str, Any] = {
        "order_id": order_id,
        "line_count": len(wanted),
        "status": Reservation.Status.ACTIVE,
        "expires_at": expires,
        "now": now,
        "kind": StockMovement.Kind.RESERVE,
        "reference": str(order_id),
        "actor": SYSTEM_ACTOR,
        "reason": "reserved for order",
    }
    for index, ((product_id, quantity), reservation_id) in enumerate(
        zip(wanted, reservation_ids, strict=True)
    ):
        params[f"p{index}"] = product_id
        params[f"q{index}"] = quantity
        params[f"r{index}"] = reservation_id
    values = ", ".join(_RESERVE_LINE.format(i=index) for index in range(len(wanted)))
    with _prepared_cursor() as cursor:
        cursor.execute(_RESERVE_SQL.format(values=values), params)
        rows = cursor.fetchall()
    existing = [_reservation_of(order_id, row) for row in rows if row[0] == "existing"]
    if existing:
        return _already_reserved(order_id, sorted(existing, key=lambda r: r.product_id))
    levels = [StockLevel(row[1], row[2], row[3]) for row in rows if row[0] == "reserved"]
    if len(levels) == len(wanted):
        stock_cache_write_on_commit(levels)
        return [
            _saved(
                Reservation(
                    id=reservation_id,
                    order_id=order_id,
                    product_id=product_id,
                    quantity=quantity,
                    status=Reservation.Status.ACTIVE,
                    expires_at=expires,
                    created_at=now,
                    updated_at=now,
                )
            )
            for (product_id, quantity), reservation_id in zip(wanted, reservation_ids, strict=True)
        ]
    available = {row[1]: row[2] for row in rows if row[0] == "line"}
    unknown = [product_id for product_id, _ in wanted if product_id not in available]
    if unknown:
        stock_reservation_conflicts.labels("unknown_product").inc()
        raise UnknownProduct(unknown)
    short = [
        ShortLine(product_id, quantity, max(available[product_id], 0))
        for product_id, quantity in wanted
        if available[product_id] < quantity
    ]
    if short:
        stock_reservation_conflicts.labels("out_of_stock").inc()
        raise OutOfStock(short)
    # Every row was locked and had enough, so the guarded UPDATE cannot have missed one.
    raise RuntimeError(f"reservation of order {order_id} changed only {len(levels)} lines")


def _reservation_of(order_id: UUID, row: Sequence[Any]) -> Reservation:
    """A Reservation from a row of _RESERVE_SQL or _SETTLE_SQL (columns 4 to 9)."""
    return _saved(
        Reservation(
            id=row[4],
            order_id=order_id,
            product_id=row[1],
            quantity=row[5],
            status=row[6],
            expires_at=row[7],
            created_at=row[8],
            updated_at=row[9],
        )
    )


def _saved(reservation: Reservation) -> Reservation:
    """Marks an instance built from a row the statement wrote or read as loaded from the
    database (as a query or bulk_create would return it)."""
    reservation._state.adding = False
    reservation._state.db = connection.alias
    return reservation


def _change_stock(
    product_id: UUID, *, on_hand_delta: int, reserved_delta: int
) -> StockLevel | None:
    """Applies both deltas in one guarded UPDATE. None: no such product, or the change
    would break reserved ≤ on_hand / reserved ≥ 0."""
    with connection.cursor() as cursor:
        cursor.execute(
            _CHANGE_SQL,
            {
                "product_id": product_id,
                "on_hand_delta": on_hand_delta,
                "reserved_delta": reserved_delta,
            },
        )
        updated = cursor.fetchone()
    if updated is None:
        return None
    on_hand, reserved, version = updated
    return StockLevel(product_id, on_hand - reserved, version)


def _record(movements: list[StockMovement], levels: list[StockLevel]) -> None:
    StockMovement.objects.bulk_create(movements)
    stock_cache_write_on_commit(levels)


def _settle_statement(
    *,
    order_id: UUID,
    from_status: str,
    to_status: str,
    kind: str,
    on_hand_sign: int,
    reserved_sign: int,
    reason: str,
    whole_order: bool = False,
) -> tuple[list[Reservation], list[Reservation]]:
    """Runs _SETTLE_SQL, one round trip in autocommit: the reservations it settled (in
    their new status) and, with `whole_order`, those it left as they were."""
    with single_statement_block(), _prepared_cursor() as cursor:
        cursor.execute(
            _SETTLE_SQL,
            {
                "order_id": order_id,
                "from_status": from_status,
                "to_status": to_status,
                "whole_order": whole_order,
                "kind": kind,
                "on_hand_sign": on_hand_sign,
                "reserved_sign": reserved_sign,
                "reference": str(order_id),
                "actor": SYSTEM_ACTOR,
                "reason": reason,
                "now": timezone.now(),
            },
        )
        rows = cursor.fetchall()
        stock_cache_write_on_commit(
            StockLevel(row[1], row[2], row[3]) for row in rows if row[0] == "changed"
        )
    settled = [_reservation_of(order_id, row) for row in rows if row[0] == "settled"]
    unchanged = [_reservation_of(order_id, row) for row in rows if row[0] == "held"]
    return sorted(settled, key=lambda r: r.product_id), unchanged


def _apply_settlement(
    order_id: UUID,
    rows: list[Reservation],
    *,
    to_status: str,
    kind: str,
    on_hand_sign: int,
    reserved_sign: int,
    reason: str,
) -> None:
    """Moves locked reservations to `to_status` and their units between the stock columns."""
    levels: list[StockLevel] = []
    movements: list[StockMovement] = []
    for row in rows:
        on_hand_delta = on_hand_sign * row.quantity
        reserved_delta = reserved_sign * row.quantity
        level = _change_stock(
            row.product_id, on_hand_delta=on_hand_delta, reserved_delta=reserved_delta
        )
        if level is None:
            # The ledger invariant says this cannot happen; refuse rather than corrupt.
            raise RuntimeError(f"stock of {row.product_id} cannot take {kind} of {row.quantity}")
        levels.append(level)
        movements.append(
            StockMovement(
                product_id=row.product_id,
                kind=kind,
                on_hand_delta=on_hand_delta,
                reserved_delta=reserved_delta,
                reference=str(order_id),
                actor=SYSTEM_ACTOR,
                reason=reason,
            )
        )
        row.status = to_status
    Reservation.objects.filter(pk__in=[row.pk for row in rows]).update(
        status=to_status, updated_at=timezone.now()
    )
    _record(movements, levels)


def _expire_order(order_id: UUID, cutoff: datetime) -> int:
    with transaction.atomic():
        due = Reservation.objects.filter(
            order_id=order_id, status=Reservation.Status.ACTIVE, expires_at__lte=cutoff
        )
        rows = list(due.select_for_update(skip_locked=True).order_by("product_id"))
        # A commit or release holding some of the order's rows decides their fate; an
        # order's reservations only ever expire together.
        if not rows or len(rows) != due.count():
            return 0
        _apply_settlement(
            order_id,
            rows,
            to_status=Reservation.Status.EXPIRED,
            kind=StockMovement.Kind.EXPIRE,
            on_hand_sign=0,
            reserved_sign=-1,
            reason="reservation expired",
        )
        return len(rows)
