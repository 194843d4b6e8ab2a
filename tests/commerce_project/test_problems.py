"""Every error under /api/ is application/problem+json with a stable type."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

PROBLEM = "application/problem+json"


def assert_problem(response: object, status: int, type_: str) -> dict[str, object]:
    assert response.status_code == status, response.content  # type: ignore[attr-defined]
    assert response["Content-Type"] == PROBLEM  # type: ignore[index]
    body = response.json()  # type: ignore[attr-defined]
    assert body["type"] == type_
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response["X-Request-ID"]  # type: ignore[index]
    return body  # type: ignore[no-any-return]


@pytest.mark.django_db
def test_validation_error_lists_each_field(api_client: APIClient) -> None:
    # when
    response = api_client.post("/api/v1/auth/register/", {"username": "x"}, format="json")
    # then
    body = assert_problem(response, 400, "invalid-input")
    assert set(body["errors"]) == {"username", "email", "password"}  # type: ignore[arg-type]


@pytest.mark.django_db
def test_malformed_json_is_invalid_input(api_client: APIClient) -> None:
    response = api_client.post(
        "/api/v1/auth/register/", data="{not json", content_type="application/json"
    )
    assert_problem(response, 400, "invalid-input")


@pytest.mark.django_db
def test_missing_credentials_is_not_authenticated(api_client: APIClient) -> None:
    response = api_client.post("/api/v1/auth/logout/")
    assert_problem(response, 401, "not-authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_bad_token_is_not_authenticated(api_client: APIClient) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = api_client.post("/api/v1/auth/logout/")
    assert_problem(response, 401, "not-authenticated")


@pytest.mark.django_db
@pytest.mark.urls("tests.commerce_project.urls_for_tests")
def test_customer_on_a_staff_endpoint_is_forbidden(customer_client: APIClient) -> None:
    response = customer_client.get("/api/v1/test/staff-only/")
    body = assert_problem(response, 403, "forbidden")
    assert "secret" not in body


@pytest.mark.django_db
def test_unknown_api_url_is_a_problem_not_html(api_client: APIClient) -> None:
    response = api_client.get("/api/v1/no-such-thing/")
    body = assert_problem(response, 404, "not-found")
    assert "/api/v1/no-such-thing/" in body["detail"]  # type: ignore[operator]


@pytest.mark.django_db
def test_unknown_url_outside_api_stays_html(api_client: APIClient) -> None:
    response = api_client.get("/no-such-page/")
    assert response.status_code == 404
    assert "json" not in response["Content-Type"]


@pytest.mark.django_db
def test_wrong_method_is_method_not_allowed(customer_client: APIClient) -> None:
    response = customer_client.get("/api/v1/auth/logout/")
    assert_problem(response, 405, "method-not-allowed")
    assert "POST" in response["Allow"]


@pytest.mark.django_db
@pytest.mark.urls("tests.commerce_project.urls_for_tests")
def test_unhandled_exception_is_a_500_problem(
    api_client: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    # when
    response = api_client.get("/api/v1/test/crash/", HTTP_X_REQUEST_ID="crash-req-1")
    # then
    body = assert_problem(response, 500, "server-error")
    assert "boom" not in str(body)  # internals are logged, never shown
    assert any(getattr(r, "request_id", None) == "crash-req-1" for r in caplog.records)


@pytest.mark.django_db
def test_throttled_is_429_with_retry_after(
    api_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a tiny anonymous budget
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"anon": "2/minute", "user": None, "login_address": None, "login_username": None},
    )
    # when
    codes = [api_client.post("/api/v1/auth/token/", {}).status_code for _ in range(2)]
    response = api_client.post("/api/v1/auth/token/", {})
    # then
    assert codes == [400, 400]
    assert_problem(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


@pytest.mark.django_db
def test_a_write_without_the_trailing_slash_is_not_found_not_redirected(
    customer_client: APIClient,
) -> None:
    # a redirect would turn the POST into a GET in most clients and create nothing
    response = customer_client.post("/api/v1/auth/logout", {})
    assert_problem(response, 404, "not-found")


@pytest.mark.django_db
def test_json_nested_too_deeply_is_invalid_input(api_client: APIClient) -> None:
    body = "[" * 100_000 + "]" * 100_000
    response = api_client.post("/api/v1/auth/token/", data=body, content_type="application/json")
    assert_problem(response, 400, "invalid-input")


@pytest.mark.django_db
def test_form_bodies_are_unsupported(api_client: APIClient) -> None:
    response = api_client.post("/api/v1/auth/token/", {"username": "x"}, format="multipart")
    assert_problem(response, 415, "unsupported-media-type")


@pytest.mark.django_db
def test_errors_are_json_even_when_the_client_asked_for_html(customer_client: APIClient) -> None:
    response = customer_client.post("/api/v1/auth/token/", {}, HTTP_ACCEPT="text/html")
    body = assert_problem(response, 400, "invalid-input")
    assert "username" in body["errors"]  # type: ignore[operator]


@pytest.mark.django_db
def test_the_schema_view_answers_a_wrong_method_with_a_json_problem(api_client: APIClient) -> None:
    assert_problem(api_client.post("/api/schema/"), 405, "method-not-allowed")


@pytest.mark.django_db
def test_a_client_accepting_only_problem_json_gets_the_real_error(api_client: APIClient) -> None:
    response = api_client.post(
        "/api/v1/auth/token/",
        data="{bad",
        content_type="application/json",
        HTTP_ACCEPT="application/problem+json",
    )
    assert_problem(response, 400, "invalid-input")


def test_the_django_request_log_line_carries_the_request_id(
    api_client: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    api_client.get("/api/v1/no-such-thing/", HTTP_X_REQUEST_ID="trace-404")
    lines = [r for r in caplog.records if r.name == "django.request"]
    assert lines
    assert {getattr(r, "request_id", None) for r in lines} == {"trace-404"}
