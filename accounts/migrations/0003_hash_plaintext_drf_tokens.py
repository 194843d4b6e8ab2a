"""Existing DRF tokens (plain text, table authtoken_token) become hashed knox tokens, so
clients that hold one keep working: the digest of the same key is stored, with an expiry of
AUTH_TOKEN_TTL from now, and the plain-text rows are deleted. The old table is left empty
(rest_framework.authtoken is no longer installed; a fresh database never has it).
"""

from typing import Any

from django.conf import settings
from django.db import migrations
from django.utils import timezone
from knox.crypto import hash_token
from knox.settings import CONSTANTS

PLAINTEXT_TABLE = "authtoken_token"


def hash_plaintext_tokens(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if PLAINTEXT_TABLE not in connection.introspection.table_names():
        return
    AuthToken = apps.get_model("knox", "AuthToken")
    expiry = timezone.now() + settings.AUTH_TOKEN_TTL
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id FROM {PLAINTEXT_TABLE}")
        rows = cursor.fetchall()
        AuthToken.objects.bulk_create(
            [
                AuthToken(
                    digest=hash_token(key),
                    token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH],
                    user_id=user_id,
                    expiry=expiry,
                )
                for key, user_id in rows
            ],
            ignore_conflicts=True,
        )
        cursor.execute(f"DELETE FROM {PLAINTEXT_TABLE}")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_username_unique_ignoring_case"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [
        migrations.RunPython(hash_plaintext_tokens, migrations.RunPython.noop),
    ]
