"""What one event changed on an order: the difference between two order_views rows (the
order folded to version N-1 and to N), for the back office's time travel. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventstore.projections import Row

# Not shown as changes: bookkeeping every event moves (version, updated_at), values that
# never change (the saga id is derived from the order id), and what the lines diff covers.
_NOT_COMPARED = frozenset({"version", "updated_at", "saga_id", "items", "skus", "item_count"})


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class LineChange:
    sku: str
    name: str
    # None: the line was not there (before) or is gone (after).
    quantity_before: int | None
    quantity_after: int | None
    unit_price: str

    @property
    def kind(self) -> str:
        if self.quantity_before is None:
            return "added"
        if self.quantity_after is None:
            return "removed"
        return "quantity changed"


@dataclass(frozen=True)
class OrderChanges:
    fields: list[FieldChange]
    lines: list[LineChange]

    def __bool__(self) -> bool:
        return bool(self.fields or self.lines)


def order_changes(before: Row | None, after: Row) -> OrderChanges:
    """What changed from `before` (None: the order did not exist yet) to `after`, fields in
    the row's column order and lines in the order they appear on the order."""
    previous: Row = before or {}
    fields = [
        FieldChange(name, previous.get(name), value)
        for name, value in after.items()
        if name not in _NOT_COMPARED and previous.get(name) != value
    ]
    return OrderChanges(fields, _line_changes(previous.get("items") or [], after["items"]))


def _line_changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[LineChange]:
    old = {line["product_id"]: line for line in before}
    new = {line["product_id"]: line for line in after}
    changes = []
    for product_id, line in new.items():
        was = old.get(product_id)
        if was is None or was["quantity"] != line["quantity"]:
            changes.append(
                LineChange(
                    line["sku"],
                    line["name"],
                    None if was is None else was["quantity"],
                    line["quantity"],
                    line["unit_price"],
                )
            )
    for product_id, line in old.items():
        if product_id not in new:
            changes.append(
                LineChange(line["sku"], line["name"], line["quantity"], None, line["unit_price"])
            )
    return changes
