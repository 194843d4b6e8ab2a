"""Stock and catalogue use cases. Each function owns its transaction (a savepoint when the
caller already has one), writes one StockMovement per stock change and schedules the stock
cache write for after COMMIT.

Locking: every stock row is changed by one UPDATE whose WHERE clause carries the guard, and
rows of a multi-line operation are always touched in ascending product-id order, so two
operations can wait for each other but never deadlock. Reservation rows are locked with
SELECT … FOR UPDATE before their stock rows, in the same order.

What the saga calls (all idempotent for the same order):
    stock_reserve(order_id=…, lines=…)   -> list[Reservation]   (OutOfStock, StockBusy)
    stock_commit(order_id=…)             -> list[Reservation]   (ReservationNotActive)
    stock_release(order_id=…)            -> list[Reservation]
    stock_return(order_id=…)             -> list[Reservation]
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from commerce_project.errors import InvalidInput

from .exceptions import (
    OutOfStock,
    ProductNotFound,
    ReservationNotActive,
    ShortLine,
    StockBusy,
    UnknownProduct,
)
from .models import Product, Reservation, StockItem, StockMovement
from .selectors import product_entry
from .stock_cache import StockLevel, product_cache_write_on_commit, stock_cache_write_on_commit

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"

Lines = Sequence[tuple[UUID, int]] | Mapping[UUID, int]
ReservationGuard = Callable[[UUID], bool]

_RESERVE_SQL = """
UPDATE stock_items
   SET reserved = reserved + %(quantity)s, version = version + 1, updated_at = now()
 WHERE product_id = %(product_id)s
   AND version = %(version)s
   AND on_hand - reserved >= %(quantity)s
RETURNING on_hand, reserved, version
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

_BACKOFF_CAP_FACTOR = 50


class _Counter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self) -> None:
        with self._lock:
            self.value += 1


_lost_races = _Counter()


def stock_reserve_lost_races() -> int:
    """How many optimistic reservation attempts this process lost to a concurrent writer
    (each one cost a re-read and a back-off): a contention gauge for monitoring and bench."""
    return _lost_races.value


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

    Raises OutOfStock naming every short line (nothing is held), UnknownProduct, StockBusy
    (transient: contention outlasted INVENTORY_RESERVE_MAX_ATTEMPTS), or ReservationNotActive
    when the order's reservations were already released or expired.
    """
    wanted = _normalize_lines(lines)
    existing = _reservations_of(order_id)
    if existing:
        return _already_reserved(order_id, existing)
    expires = expires_at or timezone.now() + settings.INVENTORY_RESERVATION_TTL
    try:
        with transaction.atomic():
            levels: list[StockLevel] = []
            short: list[ShortLine] = []
            unknown: list[UUID] = []
            for product_id, quantity in wanted:
                # Once a line is short nothing will be held: only look at the rest, so the
                # error can name every short line without locking more rows.
                outcome = _reserve_line(product_id, quantity, dry_run=bool(short or unknown))
                if outcome is None:
                    unknown.append(product_id)
                elif isinstance(outcome, ShortLine):
                    short.append(outcome)
                elif isinstance(outcome, StockLevel):
                    levels.append(outcome)
            if unknown:
                raise UnknownProduct(unknown)
            if short:
                raise OutOfStock(short)
            reservations = Reservation.objects.bulk_create(
                Reservation(order_id=order_id, product_id=pid, quantity=qty, expires_at=expires)
                for pid, qty in wanted
            )
            _record(
                [
                    StockMovement(
                        product_id=pid,
                        kind=StockMovement.Kind.RESERVE,
                        reserved_delta=qty,
                        reference=str(order_id),
                        actor=SYSTEM_ACTOR,
                        reason="reserved for order",
                    )
                    for pid, qty in wanted
                ],
                levels,
            )
    except IntegrityError:
        # A concurrent call for the same order won the UNIQUE(order_id, product) race and
        # our work rolled back; its reservations are the answer.
        existing = _reservations_of(order_id)
        if not existing:
            raise
        return _already_reserved(order_id, existing)
    return reservations


def stock_release(*, order_id: UUID) -> list[Reservation]:
    """Gives the order's ACTIVE reservations back (RELEASED). Idempotent: returns the
    reservations this call released, an empty list when there were none."""
    return _settle(
        order_id=order_id,
        from_status=Reservation.Status.ACTIVE,
        to_status=Reservation.Status.RELEASED,
        kind=StockMovement.Kind.RELEASE,
        on_hand_sign=0,
        reserved_sign=-1,
        reason="released",
    )


def stock_commit(*, order_id: UUID) -> list[Reservation]:
    """The order was paid: its reserved units leave the shelf (on_hand and reserved both
    drop). Idempotent: already committed reservations are returned as they are.

    Raises ReservationNotActive when the order holds no reservation, or when it was
    released or expired — stock may have been sold to someone else, the caller must
    compensate (refund) rather than retry."""
    with transaction.atomic():
        rows = list(
            Reservation.objects.select_for_update().filter(order_id=order_id).order_by("product_id")
        )
        statuses = {row.status for row in rows}
        done = {Reservation.Status.COMMITTED, Reservation.Status.RETURNED}
        if rows and statuses <= done:
            return rows
        if not rows or statuses != {Reservation.Status.ACTIVE}:
            raise ReservationNotActive(order_id, [row.status for row in rows])
        _apply_settlement(
            order_id,
            rows,
            to_status=Reservation.Status.COMMITTED,
            kind=StockMovement.Kind.COMMIT,
            on_hand_sign=-1,
            reserved_sign=-1,
            reason="order paid",
        )
        return rows


def stock_return(*, order_id: UUID) -> list[Reservation]:
    """A paid order was cancelled or refunded before shipping: its committed units go back
    on hand (COMMITTED → RETURNED). Idempotent; ACTIVE reservations are left alone (use
    stock_release). Returns the reservations this call returned."""
    return _settle(
        order_id=order_id,
        from_status=Reservation.Status.COMMITTED,
        to_status=Reservation.Status.RETURNED,
        kind=StockMovement.Kind.RETURN,
        on_hand_sign=1,
        reserved_sign=0,
        reason="returned to stock",
    )


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


def _reserve_line(
    product_id: UUID, quantity: int, *, dry_run: bool
) -> StockLevel | ShortLine | None:
    """One optimistic reservation: read the version, UPDATE on that version and on enough
    being available; a lost race re-reads after a jittered back-off. None: no such product."""
    attempts = max(1, int(settings.INVENTORY_RESERVE_MAX_ATTEMPTS))
    for attempt in range(attempts + 1):
        row = (
            StockItem.objects.filter(pk=product_id)
            .values_list("on_hand", "reserved", "version")
            .first()
        )
        if row is None:
            return None
        on_hand, reserved, version = row
        if on_hand - reserved < quantity:
            return ShortLine(product_id, quantity, max(on_hand - reserved, 0))
        if dry_run:
            return StockLevel(product_id, on_hand - reserved, version)
        if attempt == attempts:
            break
        with connection.cursor() as cursor:
            cursor.execute(
                _RESERVE_SQL,
                {"quantity": quantity, "product_id": product_id, "version": version},
            )
            updated = cursor.fetchone()
        if updated is not None:
            new_on_hand, new_reserved, new_version = updated
            return StockLevel(product_id, new_on_hand - new_reserved, new_version)
        _lost_races.add()
        _backoff(attempt)
    logger.warning("reservation of %s gave up after %d lost races", product_id, attempts)
    raise StockBusy(product_id)


def _backoff(attempt: int) -> None:
    base = float(settings.INVENTORY_RESERVE_BACKOFF)
    ceiling = min(base * (2**attempt), base * _BACKOFF_CAP_FACTOR)
    time.sleep(random.uniform(0, ceiling))


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


def _settle(
    *,
    order_id: UUID,
    from_status: str,
    to_status: str,
    kind: str,
    on_hand_sign: int,
    reserved_sign: int,
    reason: str,
) -> list[Reservation]:
    with transaction.atomic():
        rows = list(
            Reservation.objects.select_for_update()
            .filter(order_id=order_id, status=from_status)
            .order_by("product_id")
        )
        if rows:
            _apply_settlement(
                order_id,
                rows,
                to_status=to_status,
                kind=kind,
                on_hand_sign=on_hand_sign,
                reserved_sign=reserved_sign,
                reason=reason,
            )
        return rows


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
