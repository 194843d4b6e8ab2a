"""The user and token a cache hit hands to DRF (accounts.authentication) are the instances
`from_db` would build from the same fields: same loaded values, the rest deferred (loaded on
first use), marked as coming from the database, and the user's sign-in fields remembered so
that a save through it still goes through the token cache's protocol."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import post_init
from django.test import RequestFactory
from knox.models import AuthToken
from rest_framework.request import Request

from accounts.authentication import TokenAuthentication
from accounts.models import User
from tests.accounts.test_tokens import device, sign_in

pytestmark = pytest.mark.django_db

USER_FIELDS = ["id", "username", "is_superuser", "is_staff", "is_active"]
TOKEN_FIELDS = ["digest", "expiry", "user_id"]


def authenticate(token: str) -> tuple[User, AuthToken]:
    request = Request(RequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {token}"))
    result = TokenAuthentication().authenticate(request)
    assert result is not None
    return result


def cache_hit(user: User) -> tuple[User, AuthToken]:
    token = sign_in(user)
    authenticate(token)  # verified in the database, and cached
    return authenticate(token)


def loaded_fields(instance: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(instance).items() if k != "_state"}


def from_db(model: type[Any], instance: Any, names: list[str]) -> Any:
    ordered = [f.attname for f in model._meta.concrete_fields if f.attname in names]
    return model.from_db(DEFAULT_DB_ALIAS, ordered, [getattr(instance, n) for n in ordered])


def test_a_cache_hit_builds_what_from_db_builds(customer: User) -> None:
    user, token = cache_hit(customer)
    expected_user = from_db(User, user, USER_FIELDS)
    expected_token = from_db(AuthToken, token, TOKEN_FIELDS)

    assert loaded_fields(user) == loaded_fields(expected_user)
    assert user.get_deferred_fields() == expected_user.get_deferred_fields()
    assert (user._state.adding, user._state.db) == (False, DEFAULT_DB_ALIAS)
    assert loaded_fields(token) == loaded_fields(expected_token)
    assert token.get_deferred_fields() == expected_token.get_deferred_fields()
    assert (token._state.adding, token._state.db) == (False, DEFAULT_DB_ALIAS)
    assert token.user is user


def test_a_deferred_field_of_the_cached_user_loads_from_the_database(customer: User) -> None:
    user, token = cache_hit(customer)
    assert "email" in user.get_deferred_fields()
    assert user.email == customer.email
    assert token.created is not None


def test_a_change_saved_through_the_cached_user_still_revokes_its_tokens(
    customer: User,
) -> None:
    # given a second device whose token is cached
    other = sign_in(customer)
    assert device(other).get("/api/v1/orders/").status_code == 200
    user, _ = cache_hit(customer)
    # when the request's user loses its rights through a save of that very instance
    user.is_active = False
    user.save()
    # then the other device's cached token stops at once
    assert device(other).get("/api/v1/orders/").status_code == 401


def test_with_an_init_receiver_the_instances_are_made_by_from_db(customer: User) -> None:
    seen: list[type[Any]] = []

    def receiver(sender: type[Any], **kwargs: Any) -> None:
        seen.append(sender)

    # given: the token cached (its first use is verified in the database)
    signed_in = sign_in(customer)
    authenticate(signed_in)
    # when: a cache hit while a post_init receiver is connected
    post_init.connect(receiver)
    try:
        user, token = authenticate(signed_in)
    finally:
        post_init.disconnect(receiver)
    # then: the hit itself made both instances through from_db, which sends post_init
    assert sorted(seen, key=lambda model: model.__name__) == [AuthToken, User]
    assert user.get_deferred_fields() == from_db(User, user, USER_FIELDS).get_deferred_fields()
    assert token.user is user
