"""Sign-in tokens: one per device, hashed at rest, expiring; logout signs out one device,
logout-all and a password change sign out every one. `Bearer` and `Token` both work."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tasks import purge_expired_tokens
from tests.commerce_project.test_problems import assert_problem
from tests.factories import DEFAULT_PASSWORD

TOKEN = "/api/v1/auth/token/"
LOGOUT = "/api/v1/auth/logout/"
LOGOUT_ALL = "/api/v1/auth/logout-all/"
PASSWORD = "/api/v1/auth/password/"
ORDERS = "/api/v1/orders/"
NEW_PASSWORD = "a-long-unusual-passphrase-42"

pytestmark = pytest.mark.django_db


def sign_in(user: User, password: str = DEFAULT_PASSWORD) -> str:
    response = APIClient().post(TOKEN, {"username": user.username, "password": password})
    assert response.status_code == 200, response.content
    token: str = response.json()["token"]
    return token


def device(token: str, scheme: str = "Bearer") -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {token}")
    return client


def test_each_sign_in_issues_a_new_token_and_all_of_them_work(customer: User) -> None:
    # when the customer signs in on a phone and on a laptop
    phone, laptop = sign_in(customer), sign_in(customer)
    # then two tokens, both accepted
    assert phone != laptop
    assert device(phone).get(ORDERS).status_code == 200
    assert device(laptop).get(ORDERS).status_code == 200


def test_tokens_are_stored_only_as_their_digest(customer: User) -> None:
    # when
    token = sign_in(customer)
    # then the database holds the SHA-512 digest and not the token
    stored = AuthToken.objects.get(user=customer)
    assert stored.digest == hash_token(token)
    assert token not in {stored.digest, stored.token_key}
    assert stored.expiry is not None


@pytest.mark.parametrize("scheme", ["Bearer", "Token", "bearer"])
def test_both_schemes_are_accepted(customer: User, scheme: str) -> None:
    assert device(sign_in(customer), scheme).get(ORDERS).status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Bearer not-a-token", "Bearer " + "f" * 500, "Token \u00e9t\u00e9"],
)
def test_malformed_or_unknown_tokens_are_401(api_client: APIClient, header: str) -> None:
    api_client.credentials(HTTP_AUTHORIZATION=header)
    response = api_client.get(ORDERS)
    assert_problem(response, 401, "not-authenticated")
    assert response["WWW-Authenticate"] == "Bearer"


def test_logout_signs_out_only_the_device_that_asks(customer: User) -> None:
    # given two devices, each used once (so each token is in the cache)
    phone, laptop = device(sign_in(customer)), device(sign_in(customer))
    assert phone.get(ORDERS).status_code == 200
    assert laptop.get(ORDERS).status_code == 200
    # when the phone logs out
    assert phone.post(LOGOUT).status_code == 204
    # then the phone is out and the laptop still in
    assert_problem(phone.get(ORDERS), 401, "not-authenticated")
    assert laptop.get(ORDERS).status_code == 200
    assert AuthToken.objects.filter(user=customer).count() == 1


def test_logout_all_signs_out_every_device(customer: User, other_customer: User) -> None:
    # given two devices of the customer, in use, and another customer's
    phone, laptop = device(sign_in(customer)), device(sign_in(customer))
    someone_else = device(sign_in(other_customer))
    for client in (phone, laptop, someone_else):
        assert client.get(ORDERS).status_code == 200
    # when
    assert laptop.post(LOGOUT_ALL).status_code == 204
    # then
    assert_problem(phone.get(ORDERS), 401, "not-authenticated")
    assert_problem(laptop.get(ORDERS), 401, "not-authenticated")
    assert someone_else.get(ORDERS).status_code == 200
    # and signing in again works
    assert device(sign_in(customer)).get(ORDERS).status_code == 200


def test_password_change_signs_out_every_device_and_answers_a_fresh_token(
    customer: User,
) -> None:
    # given two devices in use
    phone, laptop = device(sign_in(customer)), device(sign_in(customer))
    assert phone.get(ORDERS).status_code == 200
    assert laptop.get(ORDERS).status_code == 200
    # when the laptop changes the password
    response = laptop.post(
        PASSWORD, {"old_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}
    )
    # then both old tokens are dead and the answer's token works
    assert response.status_code == 200
    assert set(response.json()) == {"token", "expiry"}
    assert_problem(phone.get(ORDERS), 401, "not-authenticated")
    assert_problem(laptop.get(ORDERS), 401, "not-authenticated")
    assert device(response.json()["token"]).get(ORDERS).status_code == 200
    assert sign_in(customer, NEW_PASSWORD)


def test_a_password_set_outside_the_api_revokes_every_token(customer: User) -> None:
    # given a token in use (cached)
    phone = device(sign_in(customer))
    assert phone.get(ORDERS).status_code == 200
    # when the password is set as the admin's password form does
    customer.set_password(NEW_PASSWORD)
    customer.save()
    # then
    assert_problem(phone.get(ORDERS), 401, "not-authenticated")
    assert not AuthToken.objects.filter(user=customer).exists()


def test_an_expired_token_is_401_and_deleted(customer: User) -> None:
    # given a token whose expiry has passed
    stored, token = AuthToken.objects.create(user=customer, expiry=timedelta(seconds=-1))
    # when
    response = device(token).get(ORDERS)
    # then
    assert_problem(response, 401, "not-authenticated")
    assert not AuthToken.objects.filter(digest=stored.digest).exists()


def test_the_expiry_comes_from_settings(customer: User, settings: SettingsWrapper) -> None:
    # given
    settings.REST_KNOX = {"TOKEN_TTL": timedelta(hours=2)}
    # when
    response = APIClient().post(
        TOKEN, {"username": customer.username, "password": DEFAULT_PASSWORD}
    )
    # then
    stored = AuthToken.objects.get(user=customer)
    assert stored.expiry is not None
    assert abs(stored.expiry - (timezone.now() + timedelta(hours=2))) < timedelta(minutes=1)
    assert response.json()["expiry"] is not None


def test_the_schema_declares_an_http_bearer_scheme(api_client: APIClient) -> None:
    # when
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    # then generated clients send `Authorization: Bearer <token>`
    document = json.loads(schema.content)
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    logout = document["paths"]["/api/v1/auth/logout-all/"]["post"]
    assert {"bearerAuth": []} in logout["security"]


def test_expired_tokens_are_purged_and_live_ones_kept(customer: User) -> None:
    # given an expired token and a live one
    AuthToken.objects.create(user=customer, expiry=timedelta(seconds=-1))
    live = sign_in(customer)
    # when beat's task runs
    purged = purge_expired_tokens()
    # then
    assert purged == 1
    assert list(AuthToken.objects.values_list("digest", flat=True)) == [hash_token(live)]
