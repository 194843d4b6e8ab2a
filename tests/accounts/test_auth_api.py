from __future__ import annotations

import importlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.api.serializers import RegisterSerializer
from accounts.models import User
from tests.factories import DEFAULT_PASSWORD, UserFactory

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
    # when
    response = api_client.post(TOKEN, {"username": customer.username, "password": DEFAULT_PASSWORD})
    # then a 64-character token that expires AUTH_TOKEN_TTL from now
    assert response.status_code == 200
    body = response.json()
    assert len(body["token"]) == 64
    expiry = datetime.fromisoformat(body["expiry"])
    assert abs(expiry - (timezone.now() + settings.AUTH_TOKEN_TTL)) < timedelta(minutes=1)


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


@pytest.mark.django_db(transaction=True)
def test_a_race_of_bob_and_bob_in_other_case_creates_one_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given two registrations that both pass the case-insensitive check before either writes
    both_checked = threading.Barrier(2)
    check = RegisterSerializer.validate_username

    def check_then_wait(self: RegisterSerializer, value: str) -> str:
        checked = check(self, value)
        both_checked.wait(timeout=10)
        return checked

    monkeypatch.setattr(RegisterSerializer, "validate_username", check_then_wait)

    def register(username: str) -> Any:
        try:
            body = {"username": username, "email": "b@example.com", "password": GOOD_PASSWORD}
            return APIClient(raise_request_exception=False).post(REGISTER, body, format="json")
        finally:
            connection.close()

    # when
    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(register, ["Bob", "bob"]))
    # then
    assert sorted(r.status_code for r in responses) == [201, 400]
    [refused] = [r for r in responses if r.status_code == 400]
    assert refused.json()["type"] == "invalid-input"
    assert refused.json()["errors"] == {"username": ["A user with that username already exists."]}
    assert User.objects.filter(username__iexact="bob").count() == 1


@pytest.mark.django_db
def test_the_database_refuses_a_username_differing_only_in_case() -> None:
    UserFactory(username="Carol")
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(username="cAROL")


@pytest.mark.django_db
def test_the_migration_names_existing_case_duplicates_instead_of_failing_obscurely() -> None:
    # given a database from before the constraint, holding "Dave" and "dave"
    migration = importlib.import_module("accounts.migrations.0002_username_unique_ignoring_case")
    constraint = next(c for c in User._meta.constraints if c.name == "users_username_lower_unique")
    with connection.schema_editor() as editor:  # rolled back with the test's transaction
        editor.remove_constraint(User, constraint)
    UserFactory(username="Dave")
    UserFactory(username="dave")
    UserFactory(username="erin")
    # when / then
    with pytest.raises(RuntimeError, match="Dave, dave"):
        migration.refuse_case_duplicates(django_apps, None)
