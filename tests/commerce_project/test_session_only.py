"""Sessions, the session user and messages: skipped for token clients under /api/, applied
as before to the admin and to any request with a session cookie (the browsable API); CSRF
protection unchanged everywhere."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.utils.module_loading import import_string
from rest_framework.test import APIClient

from accounts.models import User

SESSION_STACK = [
    "commerce_project.api.session_only.SessionMiddleware",
    "commerce_project.api.session_only.AuthenticationMiddleware",
    "commerce_project.api.session_only.MessageMiddleware",
]


def test_the_settings_use_the_session_only_middleware() -> None:
    assert [m for m in settings.MIDDLEWARE if m in SESSION_STACK] == SESSION_STACK
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE


def _through_the_stack(request: HttpRequest) -> HttpRequest:
    """The request as the view sees it after the three middleware."""
    seen: list[HttpRequest] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return HttpResponse("ok")

    handler: Callable[[HttpRequest], HttpResponse] = view
    for path in reversed(SESSION_STACK):
        handler = import_string(path)(handler)
    handler(request)
    return seen[0]


@pytest.mark.parametrize(
    ("path", "cookies", "applied"),
    [
        ("/api/v1/products/", {}, False),
        ("/api/v1/orders/", {"csrftoken": "x"}, False),
        ("/api/v1/orders/", {settings.SESSION_COOKIE_NAME: "abc"}, True),
        ("/admin/", {}, True),
        ("/admin/login/", {settings.SESSION_COOKIE_NAME: "abc"}, True),
        ("/healthz", {}, True),
    ],
)
def test_the_stack_runs_unless_an_api_request_has_no_session(
    rf: RequestFactory, path: str, cookies: dict[str, str], applied: bool
) -> None:
    request = rf.get(path)
    request.COOKIES.update(cookies)
    seen = _through_the_stack(request)
    assert hasattr(seen, "session") is applied
    assert hasattr(seen, "user") is applied
    assert hasattr(seen, "_messages") is applied


@pytest.mark.django_db
def test_the_admin_signs_in_with_session_csrf_and_messages(staff: User) -> None:
    browser = Client(enforce_csrf_checks=True)
    login_page = browser.get("/admin/login/")
    assert login_page.status_code == 200
    token = browser.cookies["csrftoken"].value
    refused = Client(enforce_csrf_checks=True).post(
        "/admin/login/", {"username": staff.username, "password": "x"}
    )
    assert refused.status_code == 403  # no CSRF token: still checked
    staff.set_password("correct-horse-battery")
    staff.save()
    signed_in = browser.post(
        "/admin/login/",
        {"username": staff.username, "password": "correct-horse-battery"},
        HTTP_X_CSRFTOKEN=token,
    )
    assert signed_in.status_code == 302
    index = browser.get("/admin/")
    assert index.status_code == 200
    assert index.context["user"] == staff
    assert list(messages.get_messages(index.wsgi_request)) == []


@pytest.mark.django_db
def test_the_browsable_api_keeps_its_session_and_csrf(customer: User) -> None:
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(customer)
    page = browser.get("/api/v1/orders/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert customer.username in page.content.decode()
    # A session-authenticated write without the CSRF token is refused, as before.
    response = browser.post("/api/v1/orders/", {}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


@pytest.mark.django_db
def test_a_token_client_is_authenticated_by_drf(customer_client: APIClient) -> None:
    response = customer_client.get("/api/v1/orders/")
    assert response.status_code == 200
    assert response.wsgi_request.user.is_authenticated
    assert "Set-Cookie" not in response
    assert "sessionid" not in response.cookies
