"""The back-office search stays an index lookup on a large order_views table: 100,000
orders of 10,000 customers, each search kind EXPLAINed as the admin's page query runs it.
(The planner scans small tables whatever their indexes, so the table must be large.)"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models.functions import Lower
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ORDERS = 100_000
CUSTOMERS = 10_000

# Synthetic rows straight into the read model: 100,000 orders through the command bus
# would take minutes, and the planner looks only at the table's size and statistics.
FILL = f"""
INSERT INTO users (id, password, is_superuser, username, first_name, last_name, email,
                   is_staff, is_active, date_joined)
SELECT md5('customer' || g)::uuid, '', false, 'bulk' || g, '', '', 'Bulk' || g || '@Example.com',
       false, true, now()
FROM generate_series(1, {CUSTOMERS}) AS g;

INSERT INTO order_views (order_id, customer_id, status, payment_status, currency, total_amount,
                         item_count, items, skus, shipping_address, version, saga_id,
                         payment_id, cancellation_reason, refund_reason, carrier,
                         tracking_number, created_at, updated_at)
SELECT md5('order' || g)::uuid, md5('customer' || (g % {CUSTOMERS} + 1))::uuid, 'PAID',
       'CAPTURED', 'EUR', 10, 1,
       jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (g % 20000))),
       jsonb_build_array('sku-' || (g % 20000)), NULL, 4, md5('saga' || g)::uuid, NULL, '', '',
       '', '', now() - g * interval '1 minute', now() - g * interval '1 minute'
FROM generate_series(1, {ORDERS}) AS g;

ANALYZE users;
ANALYZE order_views;
"""


@pytest.fixture
def large_read_model(db: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(FILL)


def _order_id(n: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT md5('order' || %s)::uuid::text", [str(n)])
        return str(cursor.fetchone()[0])  # type: ignore[index]


# Search kind -> the index that must answer it. One test for all: filling the table is the
# cost, and a test database cannot share it between tests.
KINDS = {
    "short ref": "order_views_short_ref",
    "email": "order_views_customer_created",
    "sku": "order_views_skus",
    "full id": "order_views_pkey",
}


def test_each_search_kind_uses_an_index_on_a_large_table(large_read_model: None) -> None:
    # given a support agent and an order among 100,000
    agent = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(agent)
    order_id = _order_id(4242)
    terms = {
        "short ref": order_id[:8].upper(),
        "email": "BULK4243@example.COM",  # order 4242's customer is customer 4243
        "sku": "sku-4242",
        "full id": order_id,
    }
    for kind, index in KINDS.items():
        # when the admin searches
        response = client.get("/admin/orders/orderview/", {"q": terms[kind]})
        changelist = response.context["cl"]
        plan = changelist.queryset[: changelist.list_per_page].explain()
        # then it finds the order by an index, without reading the whole table
        assert order_id in {str(v.order_id) for v in changelist.result_list}, kind
        assert index in plan, (kind, plan)
        assert "Seq Scan on order_views" not in plan, (kind, plan)


def test_the_email_lookup_uses_the_case_insensitive_index(large_read_model: None) -> None:
    # the first half of the e-mail search: customers by lower(email)
    plan = (
        get_user_model()
        .objects.alias(email_folded=Lower("email"))
        .filter(email_folded="bulk4243@example.com")
        .values_list("pk", flat=True)
        .explain()
    )
    assert "users_email_lower" in plan, plan
    assert "Seq Scan on users" not in plan, plan
