"""Demo orders for `make run`: a draft and a confirmed order of the demo customer (the
fulfilment saga, once running, takes the confirmed one further). Idempotent: nothing is
created when the demo customer already has orders."""

from __future__ import annotations

from typing import TextIO
from uuid import uuid4

from accounts.models import User
from eventstore.commands import dispatch
from inventory.models import Product

from .commands import ConfirmOrder, CreateOrder, LineRequest
from .domain import Actor, ShippingAddress
from .models import OrderView

DEMO_ADDRESS = ShippingAddress(
    name="Demo Customer",
    line1="Unter den Linden 1",
    city="Berlin",
    postal_code="10117",
    country="DE",
)


def seed(stdout: TextIO) -> None:
    customer = User.objects.filter(username="customer").first()
    products = list(Product.objects.filter(sku__in=["MUG-001", "NB-004", "TEE-002"]))
    if customer is None or len(products) < 3:
        stdout.write("orders         skipped: the demo customer or products are missing")
        return
    if OrderView.objects.filter(customer_id=customer.pk).exists():
        stdout.write("orders         demo orders already exist")
        return
    by_sku = {p.sku: p for p in products}
    actor = "seed_demo"
    as_customer = Actor.customer(customer.pk)
    dispatch(
        CreateOrder(
            order_id=uuid4(),
            actor=as_customer,
            customer_id=customer.pk,
            lines=(LineRequest(product_id=by_sku["MUG-001"].pk, quantity=2),),
        ),
        actor=actor,
    )
    confirmed = uuid4()
    dispatch(
        CreateOrder(
            order_id=confirmed,
            actor=as_customer,
            customer_id=customer.pk,
            lines=(
                LineRequest(product_id=by_sku["NB-004"].pk, quantity=3),
                LineRequest(product_id=by_sku["TEE-002"].pk, quantity=1),
            ),
            shipping_address=DEMO_ADDRESS,
        ),
        actor=actor,
    )
    dispatch(
        ConfirmOrder(order_id=confirmed, actor=as_customer, payment_token="tok_ok"), actor=actor
    )
    stdout.write("orders         2 demo orders created (one DRAFT, one CONFIRMED)")
