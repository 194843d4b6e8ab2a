"""A support agent's day in the back office, in chromium: find an order by the short
reference of the customer's e-mail, add an internal note, travel back through the order's
timeline, and read its saga's timeline. Screenshots land in var/test-artefacts/."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group

from accounts.models import User
from eventstore.store import load
from orders.domain import saga_id_for
from sagas.domain import SagaStatus
from sagas.models import SagaInstance
from sagas.partial_refunds import PARTIAL_REFUND_SAGA
from tests.factories import UserFactory
from tests.sagas.definitions import drive
from tests.sagas.shop import advance, confirmed_order, stock, stocked_product

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The data migrations that make the "support" group, and their functions.
SUPPORT_GROUP_MIGRATIONS = [
    ("orders.migrations.0002_support_group", "create_support_group"),
    ("orders.migrations.0005_support_group_change_order", "grant_change_order"),
    ("orders.migrations.0007_order_notes_permissions", "grant"),
    ("sagas.migrations.0003_support_group_views_sagas", "grant"),
]


def support_group() -> Group:
    """The group as its migrations leave it. A transactional test before this one flushes
    the database, migration data included (serialized_rollback clashes with the content
    types post_migrate recreates), so the migrations' own functions make it again."""
    if not Group.objects.filter(name="support").exists():
        for module, function in SUPPORT_GROUP_MIGRATIONS:
            getattr(importlib.import_module(module), function)(django_apps, None)
    return Group.objects.get(name="support")


def support_agent() -> User:
    """Staff in the support group, not a superuser: what the flow needs, nothing more."""
    agent: User = UserFactory(is_staff=True, is_superuser=False, username="agent.jones")
    agent.groups.add(support_group())
    return agent


def test_support_agent_finds_an_order_adds_a_note_and_reads_the_saga(
    admin_page: Any, screenshot: Any
) -> None:
    # given a paid order, its fulfilment saga run to the end by the real saga code
    customer = UserFactory(email="ada@example.com")
    order_id = confirmed_order(customer, [(stocked_product(5), 2)])
    advance(order_id)
    short_ref = str(order_id)[:8]
    page = admin_page(support_agent())

    # when the agent searches the reference the customer quotes (in capitals, by phone)
    page.goto("/admin/orders/orderview/")
    page.fill("#searchbar", short_ref.upper())
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()
    results = page.locator("#result_list tbody tr")
    # then exactly that order is found
    assert results.count() == 1
    screenshot(page, "1-search")
    results.first.locator("a").first.click()
    page.wait_for_url(re.compile(f"/{order_id}/change/"))  # with the list's filters after it

    # when they add an internal note
    page.fill("#note-form textarea", "Customer rang: leave the parcel with the neighbour")
    page.click("#note-form input[type=submit]")
    page.wait_for_url(f"**/{order_id}/change/")
    # then the page confirms it and the timeline shows it as internal
    assert "Note added." in page.locator(".messagelist").inner_text()
    timeline = page.locator("table.order-timeline")
    assert "OrderNoteAdded (internal)" in timeline.inner_text()
    assert "leave the parcel with the neighbour" in timeline.inner_text()
    assert load(order_id)[-1].event_type == "OrderNoteAdded"
    screenshot(page, "2-order-with-note")

    # when they open the order as it was when it was paid
    paid_version = next(e.version for e in load(order_id) if e.event_type == "OrderPaid")
    page.click(f"table.order-timeline a[href$='/version/{paid_version}/']")
    page.wait_for_url(f"**/version/{paid_version}/")
    # then they see what that event changed
    changes = page.locator("#changes").inner_text()
    assert re.search(r"status\s+CONFIRMED\s+PAID", changes)
    screenshot(page, "3-time-travel")

    # when they follow the order's saga
    page.goto(f"/admin/orders/orderview/{order_id}/change/")
    page.click("#order-saga-link")
    page.wait_for_url(f"**/sagas/sagainstance/{saga_id_for(order_id)}/change/")
    # then the saga page is read-only with a bar per attempt, and links back to the order
    assert "View saga instance" in page.content()
    assert page.locator("input[name=_save]").count() == 0
    assert page.locator(".saga-bar").count() >= 4  # reserve, authorize, capture, confirmation
    assert page.locator("#saga-order-link").get_attribute("href") == (
        f"/admin/orders/orderview/{order_id}/change/"
    )
    assert page.locator(".saga-payment-link").count() == 1
    screenshot(page, "4-saga-timeline")


def test_support_agent_refunds_one_line(admin_page: Any, screenshot: Any) -> None:
    # given a paid order of two lines
    customer = UserFactory(email="grace@example.com")
    mug, tea = stocked_product(5), stocked_product(5, price="4.00")
    order_id = confirmed_order(customer, [(mug, 1), (tea, 2)])
    advance(order_id)
    page = admin_page(support_agent())
    # when the agent refunds the tea line, back on the shelf, from the order page's form
    page.goto(f"/admin/orders/orderview/{order_id}/change/")
    page.click("text=/Refund part/")
    assert page.locator("#refundable-amount").inner_text() == "20.50 EUR"
    page.fill(f"input[name=quantity_{tea.pk}]", "2")
    page.check(f"input[name=restock_{tea.pk}]")
    page.fill("input[name=reason]", "damaged")
    page.click("#partial-refund-form input[type=submit]")
    page.wait_for_url(f"**/{order_id}/change/")
    assert "Refund requested" in page.locator(".messagelist").inner_text()
    # and the refund saga runs (in this process, as a worker would)
    refund_saga = SagaInstance.objects.get(saga_type=PARTIAL_REFUND_SAGA)
    assert drive(refund_saga.saga_id).status == SagaStatus.COMPLETED
    # then the order shows the partial refund and what is left
    page.reload()
    assert "PARTIALLY_REFUNDED" in page.content()
    page.click("text=/Refund part/")
    assert page.locator("#refundable-amount").inner_text() == "12.50 EUR"
    assert stock(tea).on_hand == 5  # both units back on the shelf
    screenshot(page, "refund-one-line")
