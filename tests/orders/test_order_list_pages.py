"""The order list pages by cursor: next and previous links walk the list in order without
gaps or repeats, filters and ordering carry over, and a page never counts the table."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import set_script_prefix
from rest_framework.test import APIClient

import eventstore.prepared
from accounts.models import User
from inventory.models import Product
from orders.domain import saga_id_for
from orders.models import OrderView
from tests.commerce_project.test_problems import assert_problem
from tests.conftest import instances_built
from tests.orders.conftest import make_order
from tests.sql import statements

pytestmark = pytest.mark.django_db

URL = "/api/v1/orders/"


def newest_first() -> list[str]:
    return [str(i) for i in OrderView.objects.order_by("-created_at").values_list("pk", flat=True)]


def test_next_and_previous_walk_the_whole_list(
    staff_client: APIClient, customer: User, other_customer: User, widget: Product
) -> None:
    # given five orders of two customers
    for owner in (customer, other_customer, customer, other_customer, customer):
        make_order(owner, lines=[(widget, 1)])
    # when: following `next` from the first page
    pages = [staff_client.get(URL, {"page_size": 2}).json()]
    while pages[-1]["next"]:
        pages.append(staff_client.get(pages[-1]["next"]).json())
    # then
    assert [len(p["results"]) for p in pages] == [2, 2, 1]
    assert [o["id"] for p in pages for o in p["results"]] == newest_first()
    assert set(pages[0]) == {"next", "previous", "results"}
    assert pages[0]["previous"] is None
    assert "cursor=" in pages[0]["next"]
    assert "page_size=2" in pages[0]["next"]
    back = staff_client.get(pages[2]["previous"]).json()
    assert back["results"] == pages[1]["results"]


def test_filters_and_ordering_carry_over_to_the_next_page(
    staff_client: APIClient, customer: User, widget: Product
) -> None:
    confirmed = [make_order(customer, lines=[(widget, n)], to="CONFIRMED") for n in (1, 3, 2)]
    make_order(customer, lines=[(widget, 9)])  # a draft, filtered out
    query = {"status": "CONFIRMED", "ordering": "-total_amount", "page_size": 2}
    first = staff_client.get(URL, query).json()
    second = staff_client.get(first["next"]).json()
    assert [o["id"] for o in first["results"] + second["results"]] == [
        str(confirmed[1].id),
        str(confirmed[2].id),
        str(confirmed[0].id),
    ]
    assert second["next"] is None


def test_a_customer_pages_through_their_own_orders_only(
    customer_client: APIClient, customer: User, other_customer: User, widget: Product
) -> None:
    mine = [make_order(customer, lines=[(widget, 1)]) for _ in range(3)]
    make_order(other_customer, lines=[(widget, 1)])
    first = customer_client.get(URL, {"page_size": 2}).json()
    second = customer_client.get(first["next"]).json()
    seen = {o["id"] for o in first["results"] + second["results"]}
    assert seen == {str(order.id) for order in mine}


def test_a_page_is_one_query_and_counts_nothing(
    staff_client: APIClient, customer: User, widget: Product, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    for _ in range(3):
        make_order(customer, lines=[(widget, 1)], to="CONFIRMED")
    first = staff_client.get(URL, {"page_size": 1}).json()
    fetch = eventstore.prepared.fetch_prepared_described
    # when: a first page and a later one, filtered by status
    with statements() as sent:
        # the page is a prepared statement, which bypasses Django's cursor: recorded here
        def recorded(sql: str, params: Any, **options: Any) -> Any:
            sent.append(sql)
            return fetch(sql, params, **options)

        monkeypatch.setattr(eventstore.prepared, "fetch_prepared_described", recorded)
        staff_client.get(URL, {"status": "CONFIRMED", "page_size": 1})
        staff_client.get(first["next"])
    # then
    on_the_list = [sql for sql in sent if "order_views" in sql]
    assert len(on_the_list) == 2, on_the_list
    assert not any("COUNT(" in sql.upper() for sql in sent), sent
    assert not any("OFFSET" in sql.upper() for sql in on_the_list), on_the_list


def test_a_forged_cursor_is_an_invalid_input_problem(staff_client: APIClient) -> None:
    # base64 of "o=-1": a negative offset
    assert_problem(staff_client.get(URL, {"cursor": "bz0tMQ=="}), 400, "invalid-input")


def test_every_order_on_a_page_links_to_itself_under_the_script_prefix(
    customer_client: APIClient, customer: User, widget: Product
) -> None:
    orders = [make_order(customer, lines=[(widget, 1)]) for _ in range(2)]
    for prefix in ("", "/shop"):
        # What gunicorn's WSGI handler does for a request under SCRIPT_NAME=/shop (the test
        # client does not).
        set_script_prefix(f"{prefix}/")
        try:
            page = customer_client.get(URL).json()
        finally:
            set_script_prefix("/")
        links = {o["id"]: o["links"] for o in page["results"]}
        for order in orders:
            base = f"{prefix}/api/v1/orders/{order.id}/"
            assert links[str(order.id)] == {
                "self": base,
                "events": f"{base}events/",
                "history": f"{base}history/",
                "saga": f"{prefix}/api/v1/sagas/{saga_id_for(order.id)}/",
            }


def test_a_page_renders_each_order_as_the_declared_fields_do_without_building_models(
    staff_client: APIClient, customer: User, widget: Product, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orders.api.serializers import OrderSerializer

    # given: orders in several states, one of them with an address and a refund reason
    make_order(customer, lines=[(widget, 2)], to="SHIPPED")
    make_order(customer, lines=[(widget, 1)], to="CONFIRMED")
    make_order(customer, lines=[(widget, 3)])
    built = instances_built(monkeypatch, OrderView)
    # when
    page = staff_client.get(URL).json()
    # then: rows, not models, and each one is the order as DRF's declared fields render it
    assert built == []
    monkeypatch.undo()
    serializer = OrderSerializer()
    expected = [
        serializer.generic_representation(OrderView.objects.get(pk=entry["id"]))
        for entry in page["results"]
    ]
    assert page["results"] == expected
    assert len(expected) == 3
