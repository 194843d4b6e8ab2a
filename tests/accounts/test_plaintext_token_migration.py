"""Migration accounts.0003: the plain-text DRF tokens of before are stored as digests, keep
signing their clients in (with either scheme) until AUTH_TOKEN_TTL, and leave no plain text."""

from __future__ import annotations

import importlib
import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from knox.models import AuthToken

from accounts.models import User
from tests.accounts.test_tokens import device

migration = importlib.import_module("accounts.migrations.0003_hash_plaintext_drf_tokens")

OLD_KEY = "0123456789abcdef0123456789abcdef01234567"  # 40 hex characters, as DRF made them

pytestmark = pytest.mark.django_db


@pytest.fixture
def plaintext_table(customer: User) -> Iterator[None]:
    """The table rest_framework.authtoken left behind, holding one token of the customer."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, "
            "created timestamptz NOT NULL, user_id uuid NOT NULL)"
        )
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, now(), %s)", [OLD_KEY, customer.pk])
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE authtoken_token")


def test_old_tokens_keep_working_hashed(plaintext_table: None, customer: User) -> None:
    # when
    with connection.schema_editor() as editor:
        migration.hash_plaintext_tokens(apps, editor)
    # then the old key signs the customer in, with either scheme
    for scheme in ("Token", "Bearer"):
        assert device(OLD_KEY, scheme).get("/api/v1/orders/").status_code == 200
    # and only its digest is stored, expiring AUTH_TOKEN_TTL from now
    stored = AuthToken.objects.get(user=customer)
    assert OLD_KEY not in (stored.digest, stored.token_key)
    assert stored.expiry is not None
    assert abs(stored.expiry - (timezone.now() + settings.AUTH_TOKEN_TTL)) < timedelta(minutes=1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone() == (0,)


def test_a_database_without_the_old_table_is_left_alone(customer: User) -> None:
    with connection.schema_editor() as editor:
        migration.hash_plaintext_tokens(apps, editor)
    assert not AuthToken.objects.exists()


def test_tokens_issued_by_old_pods_after_the_migration_are_converted_by_the_command(
    plaintext_table: None, customer: User
) -> None:
    # given: the migration ran, then an old pod still issued a plain-text token
    with connection.schema_editor() as editor:
        migration.hash_plaintext_tokens(apps, editor)
    late = "fedcba9876543210fedcba9876543210fedcba98"
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, now(), %s)", [late, customer.pk])
    assert device(late, "Token").get("/api/v1/orders/").status_code == 401
    # when the rollout is over
    out = io.StringIO()
    call_command("hash_legacy_tokens", stdout=out)
    # then
    assert "1 plain-text token(s)" in out.getvalue()
    assert device(late, "Bearer").get("/api/v1/orders/").status_code == 200
    assert device(OLD_KEY, "Bearer").get("/api/v1/orders/").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone() == (0,)
