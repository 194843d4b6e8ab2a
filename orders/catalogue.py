"""The catalogue port: what orders need to know about a product when a line is added.

Orders read prices from inventory's Product (orders -> inventory is an allowed dependency).
The import is lazy so the orders domain and its tests never load inventory's models.
"""

from __future__ import annotations

import functools
from uuid import UUID

from eventstore.prepared import fetch_prepared

from .domain import CatalogueItem
from .exceptions import ProductUnavailable

ProductInfo = CatalogueItem


def product_info_get(product_id: UUID) -> ProductInfo:
    """The product as the catalogue sells it now; ProductUnavailable if it does not exist."""
    return product_infos_get([product_id])[product_id]


def product_infos_get(product_ids: list[UUID]) -> dict[UUID, ProductInfo]:
    """The products as the catalogue sells them now, by id; ProductUnavailable names the
    first id that does not exist. One prepared statement: every order created or changed
    runs it, and the ORM's compilation and converters cost more than the query."""
    if not product_ids:
        return {}
    rows = fetch_prepared(_products_sql(), [list(product_ids)])
    found = {
        row[0]: ProductInfo(
            product_id=row[0],
            sku=row[1],
            name=row[2],
            unit_price=row[3],
            currency=row[4],
            active=row[5],
        )
        for row in rows
    }
    for product_id in product_ids:
        if product_id not in found:
            raise ProductUnavailable(product_id)
    return found


@functools.cache
def _products_sql() -> str:
    from inventory.models import Product

    table = Product._meta.db_table
    return f"SELECT id, sku, name, price, currency, active FROM {table} WHERE id = ANY(%s)"
