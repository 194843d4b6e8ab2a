"""The catalogue port: what orders need to know about a product when a line is added.

Orders read prices from inventory's Product (orders -> inventory is an allowed dependency).
The import is lazy so the orders domain and its tests never load inventory's models.
"""

from __future__ import annotations

from uuid import UUID

from .domain import CatalogueItem
from .exceptions import ProductUnavailable

ProductInfo = CatalogueItem


def product_info_get(product_id: UUID) -> ProductInfo:
    """The product as the catalogue sells it now; ProductUnavailable if it does not exist."""
    from inventory.models import Product

    product = (
        Product.objects.filter(pk=product_id)
        .values("sku", "name", "price", "currency", "active")
        .first()
    )
    if product is None:
        raise ProductUnavailable(product_id)
    return ProductInfo(
        product_id=product_id,
        sku=product["sku"],
        name=product["name"],
        unit_price=product["price"],
        currency=product["currency"],
        active=product["active"],
    )


def product_infos_get(product_ids: list[UUID]) -> dict[UUID, ProductInfo]:
    from inventory.models import Product

    rows = Product.objects.filter(pk__in=product_ids).values(
        "id", "sku", "name", "price", "currency", "active"
    )
    found = {
        row["id"]: ProductInfo(
            product_id=row["id"],
            sku=row["sku"],
            name=row["name"],
            unit_price=row["price"],
            currency=row["currency"],
            active=row["active"],
        )
        for row in rows
    }
    for product_id in product_ids:
        if product_id not in found:
            raise ProductUnavailable(product_id)
    return found
