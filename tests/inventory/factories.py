from __future__ import annotations

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from inventory import services
from inventory.models import Product
from inventory.selectors import product_entry
from inventory.stock_cache import product_cache_write_on_commit


class ProductFactory(DjangoModelFactory[Product]):
    """`ProductFactory(stock=10)` books ten units through stock_restock, so the ledger
    matches the stock row, and the cache entries are written, exactly as in production."""

    class Meta:
        model = Product
        skip_postgeneration_save = True

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n:05d}")
    description = "A product made for tests."
    price = Decimal("10.00")
    currency = "EUR"
    active = True

    @factory.post_generation
    def stock(obj: Product, create: bool, extracted: int | None, **kwargs: object) -> None:
        if not create:
            return
        services.stock_item_initialize(product=obj)
        product_cache_write_on_commit([product_entry(obj)])
        if extracted:
            services.stock_restock(
                product_id=obj.id, quantity=extracted, actor="factory", reason="test stock"
            )
