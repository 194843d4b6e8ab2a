"""Plain-text DRF tokens (table authtoken_token, from before knox) stored as knox digests, so
clients that hold one keep working until AUTH_TOKEN_TTL from the conversion.

Migration accounts.0003 runs it once. During a rolling deployment the old pods go on issuing
plain-text tokens after that, so `manage.py hash_legacy_tokens` runs it again once every old
pod is gone (docs/auth.md). Only the rows converted are deleted: one written meanwhile is
left for the next run, never lost.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from knox.crypto import hash_token
from knox.settings import CONSTANTS

PLAINTEXT_TABLE = "authtoken_token"


def legacy_tokens_hash(connection: Any, auth_token_model: Any) -> int:
    """Convert every plain-text token present; how many were. Nothing without the table."""
    if PLAINTEXT_TABLE not in connection.introspection.table_names():
        return 0
    expiry = timezone.now() + settings.AUTH_TOKEN_TTL
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id FROM {PLAINTEXT_TABLE}")
        rows = cursor.fetchall()
        auth_token_model.objects.using(connection.alias).bulk_create(
            [
                auth_token_model(
                    digest=hash_token(key),
                    token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH],
                    user_id=user_id,
                    expiry=expiry,
                )
                for key, user_id in rows
            ],
            ignore_conflicts=True,
        )
        cursor.execute(
            f"DELETE FROM {PLAINTEXT_TABLE} WHERE key = ANY(%s)", [[key for key, _ in rows]]
        )
    return len(rows)
