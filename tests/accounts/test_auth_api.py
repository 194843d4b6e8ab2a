from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import DEFAULT_PASSWORD

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
GOOD_PASSWORD = "a-long-unusual-passphrase-42"


@pytest.mark.django_db
def test_register_then_use_the_token(api_client: APIClient) -> None:
    # when
    response = api_client.post(
        REGISTER, {"username": "ada", "email": "ada@example.com", "password": GOOD_PASSWORD}
    )
    # then
    assert response.status_code == 201
    body = response.json()
    assert body["username"] == "ada"
    assert body["is_staff"] is False
    assert "password" not in body
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert api_client.post("/api/v1/auth/logout/").status_code == 204


@pytest.mark.django_db
def test_registration_can_never_create_staff(api_client: APIClient) -> None:
    api_client.post(
        REGISTER,
        {
            "username": "mallory",
            "email": "m@example.com",
            "password": GOOD_PASSWORD,
            "is_staff": True,
            "is_superuser": True,
        },
    )
    user = User.objects.get(username="mallory")
    assert not user.is_staff
    assert not user.is_superuser


@pytest.mark.django_db
def test_duplicate_username_is_400(api_client: APIClient, customer: User) -> None:
    response = api_client.post(
        REGISTER,
        {
            "username": customer.username.upper(),
            "email": "x@example.com",
            "password": GOOD_PASSWORD,
        },
    )
    assert response.status_code == 400
    assert "username" in response.json()["errors"]


@pytest.mark.django_db
def test_weak_password_is_rejected_by_django_validators(api_client: APIClient) -> None:
    response = api_client.post(
        REGISTER, {"username": "bob", "email": "bob@example.com", "password": "12345678"}
    )
    assert response.status_code == 400
    assert "password" in response.json()["errors"]
    assert not User.objects.filter(username="bob").exists()


@pytest.mark.django_db
def test_token_for_good_credentials(api_client: APIClient, customer: User) -> None:
    response = api_client.post(TOKEN, {"username": customer.username, "password": DEFAULT_PASSWORD})
    assert response.status_code == 200
    assert len(response.json()["token"]) == 40


@pytest.mark.django_db
def test_token_for_bad_credentials_is_400(api_client: APIClient, customer: User) -> None:
    response = api_client.post(TOKEN, {"username": customer.username, "password": "nope"})
    assert response.status_code == 400
    assert response.json()["type"] == "invalid-input"


@pytest.mark.django_db
def test_logout_revokes_the_token(customer_client: APIClient) -> None:
    assert customer_client.post("/api/v1/auth/logout/").status_code == 204
    assert customer_client.post("/api/v1/auth/logout/").status_code == 401


@pytest.mark.django_db
def test_password_change_revokes_old_tokens(
    customer_client: APIClient, customer: User, api_client: APIClient
) -> None:
    # when
    response = customer_client.post(
        "/api/v1/auth/password/",
        {"old_password": DEFAULT_PASSWORD, "new_password": GOOD_PASSWORD},
    )
    # then
    assert response.status_code == 200
    new_token = response.json()["token"]
    assert customer_client.post("/api/v1/auth/logout/").status_code == 401  # old token gone
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {new_token}")
    assert api_client.post("/api/v1/auth/logout/").status_code == 204
    customer.refresh_from_db()
    assert customer.check_password(GOOD_PASSWORD)


@pytest.mark.django_db
def test_password_change_needs_the_old_password(customer_client: APIClient) -> None:
    response = customer_client.post(
        "/api/v1/auth/password/", {"old_password": "wrong", "new_password": GOOD_PASSWORD}
    )
    assert response.status_code == 400
    assert "old_password" in response.json()["errors"]
