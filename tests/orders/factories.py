from __future__ import annotations

from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

from inventory.models import Product


class ProductFactory(DjangoModelFactory[Product]):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"ORD-SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Order test product {n}")
    price = Decimal("12.50")
    currency = "EUR"
    active = True
