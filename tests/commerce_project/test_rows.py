"""Model instances from written-out rows (commerce_project/rows.py) are what the ORM loads:
every field's value, a saved instance's state, deferred loading of what the row lacks, and
`from_db` whenever something expects to see the instance made."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models.signals import post_init

from accounts.models import User
from commerce_project.rows import model_from_row, model_loaded
from orders.models import OrderView
from orders.selectors import ORDER_VIEW_COLUMNS
from tests.orders.conftest import make_order
from tests.orders.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _fields(instance: Any) -> dict[str, Any]:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_a_row_makes_the_instance_the_orm_loads(customer: User) -> None:
    order = make_order(customer, lines=[(ProductFactory(), 2)], to="CONFIRMED")
    loaded = OrderView.objects.get(pk=order.id)
    row = OrderView.objects.filter(pk=order.id).values_list(*ORDER_VIEW_COLUMNS).get()
    made = model_from_row(OrderView, row)
    assert _fields(made) == _fields(loaded)
    assert (made._state.adding, made._state.db) == (False, "default")
    assert made.pk == order.id


def test_a_field_the_values_lack_is_loaded_on_first_use(customer: User) -> None:
    user = model_loaded(User, {"id": customer.id, "username": customer.username})
    assert user.get_deferred_fields() >= {"email", "is_staff"}
    assert user.email == customer.email  # one query, as for a deferred field


def test_with_an_init_receiver_the_instance_is_made_by_from_db(customer: User) -> None:
    seen: list[Any] = []

    def receiver(sender: type, instance: Any, **kwargs: Any) -> None:
        seen.append(instance)

    post_init.connect(receiver)
    try:
        made = model_loaded(User, {"id": customer.id, "username": customer.username})
    finally:
        post_init.disconnect(receiver)
    assert seen == [made]
    assert made.username == customer.username


def test_a_model_with_a_from_db_of_its_own_is_made_by_it(customer: User) -> None:
    # User.from_db remembers the sign-in fields a later save compares against
    made = model_loaded(User, {"id": customer.id, "username": customer.username})
    assert made._auth_snapshot == made._auth_state()
