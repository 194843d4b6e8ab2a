"""The Redis token cache (accounts.token_cache): a hit needs no database query, and nothing
read from it authorizes what the database would refuse — revocation, deactivation, a new
password, expiry, lost staff rights — at once, including against fills that race a change."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from accounts import token_cache
from accounts.models import User
from tests.accounts.test_tokens import device, sign_in
from tests.commerce_project.test_problems import assert_problem
from tests.factories import UserFactory

ORDERS = "/api/v1/orders/"
LOGOUT = "/api/v1/auth/logout/"
# A staff command: staff get 404 for an order that does not exist, anyone else 403.
STAFF_ONLY = "/api/v1/orders/00000000-0000-0000-0000-000000000000/ship/"

pytestmark = pytest.mark.django_db


def cached_token(user: User) -> tuple[APIClient, str]:
    """A device whose token has been used once, so its entry is in the cache."""
    token = sign_in(user)
    client = device(token)
    assert client.get(ORDERS).status_code == 200
    return client, hash_token(token)


def auth_queries(client: APIClient, path: str = ORDERS) -> tuple[int, int]:
    """(status, queries on the users or token tables) of one request."""
    with CaptureQueriesContext(connection) as queries:
        status = client.get(path).status_code
    touched = [q["sql"] for q in queries if "knox_authtoken" in q["sql"] or '"users"' in q["sql"]]
    return status, len(touched)


def test_a_cached_token_needs_no_database_query(customer: User, raw_redis: redis.Redis) -> None:
    # given a token verified once
    token = sign_in(customer)
    client = device(token)
    first = auth_queries(client)
    # when it is used again
    second = auth_queries(client)
    # then the first use read the database (and filled the cache), the second did not
    assert first[0] == second[0] == 200
    assert first[1] > 0
    assert second[1] == 0
    assert raw_redis.exists(token_cache.TOKEN_PREFIX + hash_token(token))


def test_the_cached_user_loads_other_fields_on_demand(customer: User) -> None:
    # given a token in the cache
    client, _ = cached_token(customer)
    # when the password is checked through a cached user (password change)
    response = client.post(
        "/api/v1/auth/password/", {"old_password": "wrong", "new_password": "x-long-pass-9876"}
    )
    # then the real hash was loaded and compared: the wrong old password is refused
    assert response.status_code == 400
    assert "old_password" in response.json()["errors"]


def test_deactivating_the_user_stops_a_cached_token_at_once(customer: User) -> None:
    client, _ = cached_token(customer)
    # when staff deactivate the account (a plain save, as the admin does)
    customer.is_active = False
    customer.save()
    # then
    assert_problem(client.get(ORDERS), 401, "not-authenticated")


def test_a_change_after_a_refresh_from_the_database_still_stops_a_cached_token(
    customer: User,
) -> None:
    # given: an object loaded while the account was inactive, then refreshed once it was
    # active again (and its token used and cached meanwhile)
    User.objects.filter(pk=customer.pk).update(is_active=False)
    stale = User.objects.get(pk=customer.pk)
    User.objects.filter(pk=customer.pk).update(is_active=True)
    client, _ = cached_token(customer)
    stale.refresh_from_db()
    # when staff deactivate the account through that object
    stale.is_active = False
    stale.save()
    # then
    assert_problem(client.get(ORDERS), 401, "not-authenticated")


def test_deleting_the_user_stops_a_cached_token_at_once(customer: User) -> None:
    client, _ = cached_token(customer)
    customer.delete()
    assert_problem(client.get(ORDERS), 401, "not-authenticated")


def test_lost_staff_rights_apply_at_once(staff: User) -> None:
    # given a staff token cached while it could read a staff-only list
    client, _ = cached_token(staff)
    ship = {"carrier": "DHL", "tracking_number": "1"}
    assert_problem(client.post(STAFF_ONLY, ship), 404, "not-found")
    # when the rights are taken away
    staff.is_staff = False
    staff.is_superuser = False
    staff.save(update_fields=["is_staff", "is_superuser"])
    # then the next request is made as a customer
    assert_problem(client.post(STAFF_ONLY, ship), 403, "forbidden")


def test_a_token_deleted_in_the_admin_stops_at_once(staff: User, customer: User) -> None:
    device_client, digest = cached_token(customer)
    admin = Client()
    admin.force_login(staff)
    # when staff delete the token in the admin
    response = admin.post(f"/admin/knox/authtoken/{digest}/delete/", {"post": "yes"}, follow=False)
    # then
    assert response.status_code == 302
    assert_problem(device_client.get(ORDERS), 401, "not-authenticated")


def test_an_expired_cached_entry_is_not_accepted(customer: User) -> None:
    # given an entry whose token expired (the database row has expired too)
    stored, token = AuthToken.objects.create(user=customer, expiry=timedelta(seconds=-1))
    long_ago = timezone.now() - timedelta(hours=1)
    entry = token_cache.CachedToken(
        digest=stored.digest,
        user_id=customer.pk,
        username=customer.username,
        is_staff=False,
        is_superuser=False,
        expiry=stored.expiry,
    )
    epoch = token_cache.epoch_read(user_id=customer.pk)
    assert token_cache.entry_fill(token=entry, epoch=epoch, now=long_ago)
    # when
    response = device(token).get(ORDERS)
    # then
    assert_problem(response, 401, "not-authenticated")


def _entry(user: User, digest: str) -> token_cache.CachedToken:
    return token_cache.CachedToken(
        digest=digest,
        user_id=user.pk,
        username=user.username,
        is_staff=user.is_staff,
        is_superuser=user.is_superuser,
        expiry=timezone.now() + timedelta(hours=1),
    )


def test_a_fill_whose_epoch_was_read_before_a_change_is_refused(customer: User) -> None:
    # given a request that read the epoch (then, say, the database) before a change...
    epoch = token_cache.epoch_read(user_id=customer.pk)
    # when the change runs to its end before the request fills the cache
    token_cache.user_changing(user_id=customer.pk)
    token_cache.user_changed(user_id=customer.pk)
    # then the fill is refused
    assert not token_cache.entry_fill(token=_entry(customer, "d1"), epoch=epoch, now=timezone.now())


def test_no_fill_while_a_change_is_in_flight(customer: User) -> None:
    # given a change that has started but not committed
    token_cache.user_changing(user_id=customer.pk)
    epoch = token_cache.epoch_read(user_id=customer.pk)
    # then a fill, even with the current epoch, is refused
    assert not token_cache.entry_fill(token=_entry(customer, "d2"), epoch=epoch, now=timezone.now())
    # and once the change is done, a fill with the epoch read afterwards is taken
    token_cache.user_changed(user_id=customer.pk)
    epoch = token_cache.epoch_read(user_id=customer.pk)
    assert token_cache.entry_fill(token=_entry(customer, "d3"), epoch=epoch, now=timezone.now())


def test_an_entry_filled_before_a_change_dies_when_it_starts(customer: User) -> None:
    # given an entry in the cache
    epoch = token_cache.epoch_read(user_id=customer.pk)
    assert token_cache.entry_fill(token=_entry(customer, "d4"), epoch=epoch, now=timezone.now())
    assert token_cache.entry_authenticate(digest="d4", user_rate=None) is not None
    # when a change starts (before the database is touched)
    token_cache.user_changing(user_id=customer.pk)
    # then the entry is no longer served
    assert token_cache.entry_authenticate(digest="d4", user_rate=None) is None


def test_an_inactive_user_is_never_cached(raw_redis: redis.Redis) -> None:
    # given a token of an inactive user
    user = UserFactory(is_active=False)
    stored, token = AuthToken.objects.create(user=user)
    # when it is tried
    response = device(token).get(ORDERS)
    # then refused, and nothing cached
    assert_problem(response, 401, "not-authenticated")
    assert not raw_redis.exists(token_cache.TOKEN_PREFIX + stored.digest)


def test_with_redis_down_tokens_are_verified_in_the_database(
    customer: User, settings: SettingsWrapper
) -> None:
    # given a token in the cache, then Redis unreachable
    client, _ = cached_token(customer)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    # when
    status, touched = auth_queries(client)
    # then the request is served (throttling fails open) from the database
    assert status == 200
    assert touched == 1


def test_with_redis_down_a_revocation_is_refused_not_half_done(
    customer: User, settings: SettingsWrapper
) -> None:
    # given a token in the cache, then Redis unreachable (e.g. a partition)
    client, digest = cached_token(customer)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    # when the device logs out
    response = client.post(LOGOUT)
    # then 503: a Redis that came back must not serve the entry of a token the database
    # deleted, so the token is not deleted until Redis can be told
    assert_problem(response, 503, "service-unavailable")
    assert AuthToken.objects.filter(digest=digest).exists()


def test_an_entry_is_never_served_again_once_its_users_epoch_was_lost(
    customer: User, raw_redis: redis.Redis
) -> None:
    # given an entry in the cache
    epoch = token_cache.epoch_read(user_id=customer.pk)
    assert token_cache.entry_fill(token=_entry(customer, "d5"), epoch=epoch, now=timezone.now())
    # when Redis loses the user's epoch (an eviction, a partial restore)...
    raw_redis.delete(f"{token_cache.EPOCH_PREFIX}{customer.pk}")
    # then the entry is not served
    assert token_cache.entry_authenticate(digest="d5", user_rate=None) is None
    # and a change that recreates the epoch does not bring it back to the entry's value
    token_cache.user_changing(user_id=customer.pk)
    token_cache.user_changed(user_id=customer.pk)
    assert token_cache.entry_authenticate(digest="d5", user_rate=None) is None
