"""Demo catalogue for `make run`: a handful of products with stock, idempotent by SKU."""

from __future__ import annotations

from decimal import Decimal
from typing import TextIO

from .models import Product
from .services import product_create

DEMO_PRODUCTS = (
    # sku, name, price, stock, description
    ("MUG-001", "Enamel mug", "12.50", 40, "Camping mug, 350 ml, white with blue rim."),
    ("TEE-002", "Organic T-shirt", "24.00", 25, "Heavyweight cotton, unisex fit."),
    ("BAG-003", "Canvas tote bag", "18.90", 30, "Waxed canvas, leather handles."),
    ("NB-004", "Dot-grid notebook", "9.75", 60, "A5, 192 pages, lay-flat binding."),
    ("PEN-005", "Brass pen", "34.00", 12, "Machined brass, refillable."),
    ("CAP-006", "Wool cap", "21.00", 15, "Merino wool, one size."),
    ("LMP-007", "Desk lamp", "79.00", 5, "Adjustable arm, warm LED."),
    ("LTD-008", "Limited print", "150.00", 1, "Signed print, one left — for oversell demos."),
)


def seed(stdout: TextIO) -> None:
    created = 0
    for sku, name, price, stock, description in DEMO_PRODUCTS:
        if Product.objects.filter(sku=sku).exists():
            continue
        product_create(
            sku=sku,
            name=name,
            description=description,
            price=Decimal(price),
            initial_stock=stock,
            actor="seed_demo",
        )
        created += 1
    stdout.write(f"inventory      {created} demo products created, {len(DEMO_PRODUCTS)} in total")
