"""`created_after` / `created_before` on the order and saga lists: any real offset works;
one PostgreSQL cannot hold (beyond ±15:59, which Python parses) is 400, never a 500."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.commerce_project.test_problems import assert_problem

pytestmark = pytest.mark.django_db

LISTS = ["/api/v1/orders/", "/api/v1/sagas/"]


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("parameter", ["created_after", "created_before"])
@pytest.mark.parametrize("offset", ["+16:00", "-16:00", "+23:59", "-20:30", "+16:00:00.5", "+1600"])
def test_an_offset_postgresql_cannot_hold_is_invalid_input_naming_the_parameter(
    staff_client: APIClient, url: str, parameter: str, offset: str
) -> None:
    # when
    response = staff_client.get(url, {parameter: f"2026-01-01T00:00:00{offset}"})
    # then
    body = assert_problem(response, 400, "invalid-input")
    assert list(body["errors"]) == [parameter]


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("offset", ["+15:59", "-15:59:59.5", "+14:00", "Z", ""])
def test_any_real_offset_filters(staff_client: APIClient, url: str, offset: str) -> None:
    response = staff_client.get(url, {"created_after": f"2026-01-01T00:00{offset}"})
    assert response.status_code == 200
