"""Shared fixtures. Everything runs against the real PostgreSQL (pytest-django's test
database) and the real Redis (the test run's own database numbers, flushed around each test)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

import pytest
import redis
from django.conf import settings
from django.db import models
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import UserFactory

M = TypeVar("M", bound=models.Model)


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield
    client.flushdb()
    client.close()


@pytest.fixture
def raw_redis() -> Iterator[redis.Redis]:
    """A plain client of the test run's Redis database (strings, not bytes)."""
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient(raise_request_exception=False)


@pytest.fixture
def customer(db: None) -> User:
    return UserFactory()


@pytest.fixture
def other_customer(db: None) -> User:
    return UserFactory()


@pytest.fixture
def staff(db: None) -> User:
    return UserFactory(is_staff=True, is_superuser=True)


def token_for(user: User) -> str:
    """A fresh sign-in token of `user`, as POST auth/token/ would issue it."""
    from accounts.services import token_issue

    return token_issue(user=user).token


def admin_client_for(user: User) -> Client:
    """A Django test client signed in (by session) as `user`, for admin pages."""
    client = Client()
    client.force_login(user)
    return client


def client_for(user: User) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return client


@pytest.fixture
def customer_client(customer: User) -> APIClient:
    return client_for(customer)


@pytest.fixture
def other_customer_client(other_customer: User) -> APIClient:
    return client_for(other_customer)


@pytest.fixture
def staff_client(staff: User) -> APIClient:
    return client_for(staff)


def instances_built(monkeypatch: pytest.MonkeyPatch, model: type[M]) -> list[M]:
    """Every `model` instance built from database rows from now on (by `from_db`), for tests
    that pin a page read as plain rows."""
    built: list[M] = []
    from_db = model.from_db

    def counting_from_db(*args: Any, **kwargs: Any) -> M:
        built.append(instance := from_db(*args, **kwargs))
        return instance

    monkeypatch.setattr(model, "from_db", counting_from_db)
    return built
