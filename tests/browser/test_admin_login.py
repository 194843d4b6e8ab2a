"""The browser harness itself: a staff member signs in to the admin in chromium."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_staff_signs_in_to_the_admin(admin_page: Any, screenshot: Any) -> None:
    user = UserFactory(is_staff=True, is_superuser=True)
    page = admin_page(user)
    assert page.locator("#site-name").inner_text() != ""
    assert page.locator("a[href='/admin/logout/'], form#logout-form").count() == 1
    assert screenshot(page, "index").stat().st_size > 0
