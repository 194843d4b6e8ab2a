"""Existing DRF tokens (plain text, table authtoken_token) become hashed knox tokens, so
clients that hold one keep working (accounts.legacy_tokens; `manage.py hash_legacy_tokens`
repeats it after a rolling deployment). A fresh database never has the old table.
"""

from typing import Any

from django.db import migrations

from accounts.legacy_tokens import legacy_tokens_hash


def hash_plaintext_tokens(apps: Any, schema_editor: Any) -> None:
    legacy_tokens_hash(schema_editor.connection, apps.get_model("knox", "AuthToken"))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_username_unique_ignoring_case"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [
        migrations.RunPython(hash_plaintext_tokens, migrations.RunPython.noop),
    ]
