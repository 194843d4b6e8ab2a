"""The Operations page is for staff; the admin index links to it."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_customer_is_sent_to_the_admin_login(customer: User) -> None:
    client = Client()
    client.force_login(customer)
    response = client.get("/admin/operations/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_find_it_from_the_admin_index() -> None:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    index = client.get("/admin/")
    assert b'href="/admin/operations/"' in index.content
    page = client.get("/admin/operations/")
    assert page.status_code == 200
    assert b'id="orders-per-hour-chart"' in page.content
    assert b"<script" not in page.content.split(b'<div id="operations">')[1]
