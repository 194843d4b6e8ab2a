"""The Operations admin page in chromium: charts drawn, links to the sagas that need staff,
nothing loaded from anywhere but the service itself."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from accounts.models import User
from orders.domain import saga_id_for
from sagas.models import SagaInstance
from tests.factories import UserFactory
from tests.inventory.factories import ProductFactory
from tests.orders.conftest import make_order

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_staff_sees_charts_and_the_sagas_that_need_them(
    admin_page: Any, screenshot: Any, customer: User
) -> None:
    # given orders, one saga stuck past its step deadline, one FAILED, and a product running low
    product = ProductFactory(sku="LOW-1", name="Nearly gone", stock=20)
    make_order(customer, lines=[(product, 1)], to="PAID")
    stuck = make_order(customer, lines=[(product, 1)], to="CONFIRMED")
    failed = make_order(customer, lines=[(product, 1)], to="CONFIRMED")
    SagaInstance.objects.filter(pk=saga_id_for(stuck.id)).update(
        step_deadline_at=timezone.now() - timedelta(minutes=5)
    )
    SagaInstance.objects.filter(pk=saga_id_for(failed.id)).update(
        status="FAILED", failure_reason="payment_declined", last_error="void refused"
    )
    ProductFactory(sku="LOW-2", name="Last units", stock=2)
    staff = UserFactory(is_staff=True, is_superuser=True)
    page = admin_page(staff)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    # when staff follow the link from the admin index
    page.click("#operations-link a")
    page.wait_for_url("**/admin/operations/")
    # then the charts are drawn as inline SVG with a bar per status and hour
    assert page.locator("#orders-per-hour-chart").count() == 1
    assert page.locator("#orders-per-hour-chart rect.bar").count() >= 2  # PAID and CONFIRMED
    assert page.locator("#saga-outcomes-chart rect.bar").count() == 5  # one per saga status
    reasons = page.locator("#failure-reasons-chart text").all_text_contents()
    assert reasons == ["payment_declined", "1"]
    # and both sagas needing attention link to their admin pages
    links = page.locator("#sagas-attention a.saga-link")
    hrefs = {links.nth(i).get_attribute("href") for i in range(links.count())}
    assert hrefs == {
        f"/admin/sagas/sagainstance/{saga_id_for(stuck.id)}/change/",
        f"/admin/sagas/sagainstance/{saga_id_for(failed.id)}/change/",
    }
    assert page.locator("#sagas-attention .stuck").count() == 1
    # and projection lag and low stock are listed
    assert "order_event_tallies" in page.locator("#projection-lag").inner_text()
    low = page.locator("#low-stock").inner_text()
    assert "LOW-2" in low
    assert "LOW-1" not in low
    assert screenshot(page, "operations").stat().st_size > 0
    # and nothing came from outside the service (no CDN, no external script or font)
    origin = urlsplit(page.url).netloc
    assert requested
    assert {urlsplit(url).netloc for url in requested} == {origin}
    # and a saga link opens that saga's admin page
    page.click(f"#sagas-attention a[href*='{saga_id_for(failed.id)}']")
    page.wait_for_url(f"**/admin/sagas/sagainstance/{saga_id_for(failed.id)}/change/")
